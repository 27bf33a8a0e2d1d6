/*
 * buf.h - the bounded buffer and the reader: the only code that touches
 * bytes that came from the network or from a state file.
 *
 * struct buf is a growable byte buffer with a mandatory maximum; appends
 * past the maximum fail and leave it unchanged.  Its data pointer moves when
 * it grows: never keep a pointer into it across an append.
 *
 * struct rd is a read-only view with a sticky error: every getter checks the
 * remaining length first, and after the first failure all getters return
 * zero values and rd_ok() is false.  Decoders read everything, then check
 * rd_ok() once.  All integers are big-endian on the wire.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;	/* bytes held */
	size_t cap;	/* bytes allocated */
	size_t max;	/* bytes it may ever hold */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);	/* frees data; b may be zeroed */
void buf_reset(struct buf *b);		/* len = 0, keeps memory */
/* Appends; -1 (and nothing appended) when the maximum would be passed. */
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* v big-endian into x[4]: a fixed 4-byte body without a struct buf. */
void be32_put(uint8_t x[4], uint32_t v);
/* u32 length, then the bytes. */
int buf_put_str(struct buf *b, const void *p, size_t n);
int buf_put_cstr(struct buf *b, const char *s);
/* Makes room for n more bytes and returns where they go (commit with
 * buf_commit).  NULL when the maximum would be passed. */
uint8_t *buf_space(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

void rd_init(struct rd *r, const void *p, size_t n);
bool rd_ok(const struct rd *r);
size_t rd_left(const struct rd *r);
/* Fails the reader on purpose (a value out of range). */
void rd_fail(struct rd *r);
uint8_t rd_u8(struct rd *r);
uint16_t rd_u16(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* A view of the next n bytes, valid as long as the underlying memory. */
const uint8_t *rd_bytes(struct rd *r, size_t n);
/* u32 length (at most max) and that many bytes, as a view. */
const uint8_t *rd_str(struct rd *r, size_t max, size_t *len);
/* Same, copied into a new NUL-terminated string; embedded NULs fail the
 * reader.  Returns NULL on failure; the caller frees. */
char *rd_cstr(struct rd *r, size_t max);
/* Fails the reader unless all bytes were consumed. */
void rd_expect_end(struct rd *r);
/* A view of the rd_left(r) bytes not read yet, consuming nothing (NULL
 * after a failure): for a body handed on whole. */
const uint8_t *rd_peek(const struct rd *r);

#endif
