/*
 * sync-index.h - what ferry last synced, per target and side: for every
 * path its type, mode, size, mtime (ns), inode and XXH3-128 content hash.
 *
 * The index is what makes a no-op push cheap (an entry whose stat matches
 * is not read again) and what tells "changed since the last sync" apart
 * from "unchanged" on the destination.  Entries are kept in walk order
 * (path_cmp: component by component), so a walk and an index can be
 * merged in one pass and a path found by binary search.
 *
 * Racy clean (as git): a file modified within INDEX_RACY_NS before the
 * index was written may have been changed again within the timestamp
 * granularity without its stat changing; such an entry is never trusted
 * by stat alone.
 */
#ifndef FERRY_SYNC_INDEX_H
#define FERRY_SYNC_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fsx.h"

#define INDEX_HASH_LEN 16

struct index_entry {
	uint64_t size, mtime_ns, ino;
	uint8_t hash[INDEX_HASH_LEN];	/* content; a symlink: its target */
	uint32_t path_off;		/* into struct index.paths */
	uint16_t mode;			/* permission bits (07777) */
	uint8_t type;			/* enum entry_type */
	uint8_t racy;			/* racily clean when written: never trusted by stat */
};

struct index {
	struct index_entry *e;
	size_t n, cap;
	struct buf paths;		/* NUL-terminated paths, back to back */
	uint64_t written_ns;		/* wall clock when it (or its log's last group) was written */
	uint64_t gen;			/* written_ns of the file alone: its log's generation */
	size_t file_bytes, log_bytes;	/* on disk, as loaded */
};

void index_init(struct index *ix);
void index_release(struct index *ix);
const char *index_path(const struct index *ix, const struct index_entry *e);
/* Room for n entries and path_bytes of paths (no copies while growing). */
void index_reserve(struct index *ix, size_t n, size_t path_bytes);
/* Appends; entries must come in path_cmp order (-EINVAL otherwise, and for
 * a path path_check_rel refuses).  Returns the new entry or NULL. */
struct index_entry *index_append(struct index *ix, const char *path, int *err);
/* The same for len bytes at path (no NUL needed; one inside is refused). */
struct index_entry *index_append_n(struct index *ix, const char *path, size_t len, int *err);
/* Binary search; NULL when absent. */
const struct index_entry *index_find(const struct index *ix, const char *path);

/* Order of the walk: component by component, each compared as bytes. */
int path_cmp(const char *a, const char *b);

/* The on-disk form (a parser of untrusted bytes: fuzzed).  0 or -1. */
int index_encode(const struct index *ix, struct buf *out);
/* The same form, written piecewise by a caller that holds its entries
 * elsewhere: the header (count entries follow), then each entry, in
 * path_cmp order (the caller's duty; index_decode checks it). */
int index_encode_head(struct buf *out, uint64_t written_ns, uint32_t count);
int index_encode_entry(struct buf *out, const char *path, const struct index_entry *e);
int index_decode(const void *p, size_t n, struct index *ix);
/* Writes an index file a piece at a time (INDEX_WRITE_PIECE bytes in
 * memory, not the whole encoding: 100k entries are ~6 MB): open with the
 * header, put each entry (path_cmp order), then commit (atomic rename,
 * fsync when durable; 0 or -errno, -E2BIG past INDEX_FILE_MAX; on an
 * error no temp file is left).  Errors are kept until commit. */
struct index_writer {
	struct atomic_out o;
	struct buf b;
	size_t total;
	int r;
};
int index_writer_open(struct index_writer *w, const char *file, uint64_t written_ns, uint32_t count);
void index_writer_put(struct index_writer *w, const char *path, const struct index_entry *e);
int index_writer_commit(struct index_writer *w, bool durable);
/* Reads a file and the committed groups of its log (FILE.log, below);
 * writes a file atomically (0600) and removes its log.  -ENOENT when
 * there is none, -EBADMSG when it or its log is malformed. */
int index_load(const char *file, struct index *ix);
int index_save(const char *file, struct index *ix);

/* The log: a sync that changed a few entries of a large index appends
 * them to FILE.log as one committed group instead of rewriting FILE (100k
 * entries are ~6 MB to write and fsync for one changed file).  A group is
 * records (index_log_put: an entry, or a path's removal) then a commit
 * record naming the file's generation (its written_ns) and the group's
 * time, which the racy rule uses for the group's entries.  A group whose
 * commit is missing or torn (the writer died) is ignored; groups of an
 * older generation (a crash between a rewrite and the log's removal) too.
 * Once the log would pass a quarter of the file, the file is rewritten. */
int index_log_put(struct buf *out, const char *path, const struct index_entry *e);	/* e NULL: removed */
/* Applies the committed groups of generation gen in p on top of ix.
 * 0, or -1 for a malformed log (ix unchanged). */
int index_log_merge(struct index *ix, uint64_t gen, const void *p, size_t n);
/* Appends recs (nrec records) to file's log as one group on top of disk
 * (what index_load gave; disk->gen names the file).  0 when committed,
 * 1 when the file must be rewritten instead (no file, or the log too
 * large), -errno.  durable: fsync the log. */
int index_log_commit(const char *file, const struct index *disk, const struct buf *recs, uint32_t nrec,
		     bool durable);
/* nx as file's new content: a log group of what differs from disk, or a
 * whole rewrite (index_save) when the log says so.  disk NULL: rewrite. */
int index_commit(const char *file, const struct index *disk, struct index *nx, bool durable);
/* Is e racily clean in ix (never to be trusted by its stat alone)? */
bool index_entry_racy(const struct index *ix, const struct index_entry *e);
/* Must nw, for the path of disk's entry old, go into a log group: a field
 * differs, or old is racy (logging it again makes it trusted)? */
bool index_entry_differs(const struct index *disk, const struct index_entry *old, const struct index_entry *nw);
/* Removes FILE.log, once FILE was rewritten whole by other means. */
void index_drop_log(const char *file);

/* The journal: entries appended one by one as files land, so a sync that
 * is killed before it saves the index still knows what it wrote.  A record
 * is u32 length + (path, type, mode, size, mtime, ino, hash). */
int index_journal_record(struct buf *out, const char *path, const struct index_entry *e);
/* Applies the records in p (a torn last record is ignored) on top of ix:
 * a journal entry replaces the index entry of its path.  0, or -1 for a
 * malformed journal (ix unchanged). */
int index_journal_merge(struct index *ix, const void *p, size_t n);

/* True when a file whose stat is (size, mtime_ns, ino, mode) can be taken
 * to still have e's content without reading it: everything matches and
 * e is not racily clean against the index's write time. */
bool index_stat_clean(const struct index *ix, const struct index_entry *e, uint64_t size,
		      uint64_t mtime_ns, uint64_t ino, uint16_t mode);


/* The id of a sync state: XXH3-128 over each entry's path and type and
 * what both sides record alike — a file's mode, size, mtime and hash, a
 * folder's mode, a symlink's target hash (not inodes, not a folder's or
 * a symlink's own mtime, which differ between the two sides).  The
 * source's cache of its last manifest and the destination's index after
 * a clean sync of that manifest have the same id. */
void index_state_id(const struct index *ix, uint8_t out[INDEX_HASH_LEN]);

/* XXH3-128 of a file's content, read from fd to EOF.  0 or -errno. */
int hash_fd(int fd, uint8_t out[INDEX_HASH_LEN]);
void hash_bytes(const void *p, size_t n, uint8_t out[INDEX_HASH_LEN]);

#endif
