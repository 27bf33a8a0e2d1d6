/*
 * job-tag.h - records made of tagged fields: tag, length, value.
 *
 * The job record (job.c) and the launch spec (job-spec.c) are a magic
 * number and then fields, each a u16 tag, a u32 length and that many
 * bytes.  A reader skips tags it does not know, so a later version adds a
 * field without a new magic number and an older ferry still reads the
 * record.  The layout of a struct is described by a table of fields
 * (offsets into it), so encoding and decoding are one loop each.
 *
 * Values: integers big-endian at their width; strings as their bytes (no
 * NUL inside, none at the end); a list is its tag repeated, in order.
 */
#ifndef FERRY_JOB_TAG_H
#define FERRY_JOB_TAG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum tag_kind {
	TAG_U8,
	TAG_U16,
	TAG_U32,
	TAG_U64,
	TAG_STR,	/* char *, at most max bytes */
	TAG_LIST,	/* char ** (NULL-terminated) with a uint32_t count at
			 * count_off; at most max entries of TAG_ITEM_MAX bytes */
};

struct tag_field {
	uint16_t tag;		/* 1..63, unique in a table */
	uint8_t kind;		/* enum tag_kind */
	uint8_t required;	/* refuse a record without it */
	size_t off;		/* of the member in the struct */
	size_t max;		/* TAG_STR: bytes; TAG_LIST: entries */
	size_t count_off;	/* TAG_LIST: of the uint32_t count */
};

/* Appends every field of the table for the struct at obj (NULL strings
 * as empty ones).  0 or -1 (the buffer's maximum). */
int tag_encode(const struct tag_field *t, size_t nt, const void *obj, struct buf *out);

/* Reads fields from r to its end into the zeroed struct at obj: unknown
 * tags skipped; a known tag twice (a list's excepted), a value of the
 * wrong length or over its maximum, a missing required field fail the
 * reader.  Lists grow as entries arrive (never sized from a count in the
 * input).  Strings not present are set to "" and lists to an empty
 * vector, so a decoded struct has no NULL.  0 or -1; on -1 what was
 * decoded is still in obj for its owner to release. */
int tag_decode(const struct tag_field *t, size_t nt, struct rd *r, void *obj);

#endif
