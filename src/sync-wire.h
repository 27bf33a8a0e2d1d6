/*
 * sync-wire.h - the sync family of messages (docs/PROTOCOL.md, "Sync"):
 * their structs and codecs.  Decoders go through struct rd and validate
 * every path with path_check_rel before anyone sees it.
 */
#ifndef FERRY_SYNC_WIRE_H
#define FERRY_SYNC_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "limits.h"
#include "sync-index.h"

#define SYNC_FORCE	0x1u
#define SYNC_DRY_RUN	0x2u
#define SYNC_PULL	0x4u	/* the agent is the source, the client applies */
#define SYNC_NO_ZSTD	0x8u	/* a local link: the source never compresses */
#define SYNC_BASE_ID	0x10u	/* the client has a base: only changes if it matches */
#define SYNC_FORCE_PATHS 0x20u	/* a push: force only the paths listed */
#define SYNC_SHARED	0x40u	/* the project says other users may write its folder */
#define SYNC_FLAGS_ALL	0x7fu

struct sync_begin {
	uint32_t flags;
	char *root;
	char **pull;		/* the pull folders: a push must not touch
				 * them, a pull sends only them */
	uint32_t npull;
	char **ignore;		/* a pull: the project file's pull_ignore */
	uint32_t nignore;
	/* With SYNC_FORCE_PATHS: a push overwrites only these (push
	 * --force PATH...). */
	char **force;
	uint32_t nforce;
	/* With SYNC_BASE_ID: the state id (index_state_id) of the manifest
	 * the client sent in its last push, which it keeps as its cache. */
	uint8_t base[INDEX_HASH_LEN];
};

struct sync_entry {
	uint8_t type;		/* enum entry_type: file, dir, link */
	uint16_t mode;
	uint32_t ref;		/* never on the wire: the receiver's own 1 + index
				 * of its index entry of this path, 0 none (in
				 * the padding: the struct does not grow) */
	uint64_t size, mtime_ns;
	uint8_t hash[INDEX_HASH_LEN];
	char *path;		/* a symlink's target follows its NUL
				 * (sync_entry_link): no pointer of its own,
				 * 8 bytes less in every entry of a manifest */
};

/* A symlink's target, "" for anything else. */
const char *sync_entry_link(const struct sync_entry *e);

struct sync_plan_end {
	uint32_t need, conflicts, deletes;
	uint8_t guard;		/* mass-deletion guard tripped */
	uint32_t indexed;	/* files the destination index holds */
};

struct sync_done {
	uint32_t written, deleted, conflicts, errors;
	uint64_t bytes;
};

int sync_begin_encode(const struct sync_begin *b, struct buf *out);
int sync_begin_decode(struct rd *r, struct sync_begin *b);
void sync_begin_release(struct sync_begin *b);

int sync_entry_encode(const struct sync_entry *e, struct buf *out);
int sync_entry_decode(struct rd *r, struct sync_entry *e);
void sync_entry_release(struct sync_entry *e);

/* SYNC_CONFLICT and SYNC_ERROR: u32 code, path, message. */
int sync_report_encode(uint32_t code, const char *path, const char *msg, struct buf *out);
int sync_report_decode(struct rd *r, uint32_t *code, char **path, char **msg);

/* SYNC_DROP: a path of the base that the source no longer has. */
int sync_drop_encode(const char *path, struct buf *out);
int sync_drop_decode(struct rd *r, char **path);
/* SYNC_KEEP: a path the source still has but a rule now leaves out (an
 * ignore rule is never a deletion): the destination forgets it, leaving
 * the file.  The same codec as SYNC_DROP. */
#define sync_keep_encode sync_drop_encode
#define sync_keep_decode sync_drop_decode
/* SYNC_SKIPPED (pull, agent to client, before SYNC_BASE): how many
 * entries the project file's pull_ignore kept out, whether all were files,
 * and the first few paths (a folder's with a trailing '/'). */
struct path_sample {
	uint32_t count;
	uint32_t n;
	char *v[SYNC_NAMES_SHOWN];
};
struct sync_skipped {
	bool all_files;
	struct path_sample paths;
};
/* A count of paths with the first few of them, for one summary line. */
void path_sample_add(struct path_sample *s, const char *path);
/* "a, b, c and 4 more" (caller frees). */
char *path_sample_text(const struct path_sample *s);
void path_sample_release(struct path_sample *s);
int sync_skipped_encode(const struct sync_skipped *k, struct buf *out);
int sync_skipped_decode(struct rd *r, struct sync_skipped *k);
void sync_skipped_release(struct sync_skipped *k);
/* SYNC_BASE: u8 1 when the destination's index is the client's base
 * (send changes only), 0 otherwise (send everything). */
int sync_base_decode(struct rd *r, bool *match);
/* SYNC_PING / SYNC_PONG: u64, the sender's clock when it pinged, echoed
 * back unchanged (the source learns the round trip; sync-zstd.h). */
void sync_ping_encode(uint64_t t, struct buf *b);
int sync_ping_decode(struct rd *r, uint64_t *t);

/* A manifest batch (SYNC_ENTRIES_Z): ENTRY and DROP frames, framed as on
 * the wire (u32 length, u16 type, u16 0, body), compressed as one zstd
 * frame that carries its decoded size.  Unpacks into *out (malloc'd,
 * *len bytes): 0, or -1 for anything but exactly one frame of 1 to
 * MANIFEST_BATCH_MAX bytes. */
int sync_batch_unpack(const uint8_t *p, size_t n, uint8_t **out, size_t *len);
/* The next frame of an unpacked batch: 1 and *type / *body (pointing into
 * the batch), 0 at its end, -1 when malformed (a cut frame, padding that
 * is not 0, a type other than ENTRY or DROP, an empty body). */
int sync_batch_next(struct rd *r, uint16_t *type, struct rd *body);

int sync_plan_end_encode(const struct sync_plan_end *p, struct buf *out);
int sync_plan_end_decode(struct rd *r, struct sync_plan_end *p);
int sync_done_encode(const struct sync_done *d, struct buf *out);
int sync_done_decode(struct rd *r, struct sync_done *d);

#endif
