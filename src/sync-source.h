/*
 * sync-source.h - the source side of a sync, shared by both directions:
 * the client runs it for a push, the agent for a pull.
 *
 * The source lists its tree as manifest entries, each with its content
 * hash.  Hashes come from a cache (the index of the last scan) when the
 * stat says a file is unchanged, so an unchanged file is never read.
 * Then it streams the files the destination asked for, back to back.
 */
#ifndef FERRY_SYNC_SOURCE_H
#define FERRY_SYNC_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sync-delta.h"
#include "limits.h"
#include "proto.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-wire.h"
#include "sync-zstd.h"

struct source {
	int rootfd;
	struct index cache;	/* the last manifest sent, with inodes: hashes
				 * of unchanged files, and the base of a
				 * changes-only manifest */
	size_t cache_cur;	/* walk-order cursor into cache */
	/* The cache may load while the walk runs (source_load_cache on one
	 * thread, source_add on another): entries found before it is ready
	 * wait, unresolved (no hash), until the first source_add after. */
	atomic_bool cache_ready;
	bool have_cache;	/* the walk's thread has seen cache_ready */
	size_t resolved;	/* entries [0, resolved) compared with the cache */
	size_t same;		/* entries exactly as in the cache */
	size_t matched;		/* entries whose path the cache holds */
	struct sync_entry *e;	/* the manifest, in walk order; paths in the
				 * arena, or the cache's when it has them */
	char **arena;		/* blocks of SOURCE_ARENA_BLOCK bytes of paths */
	size_t narena, arena_used;	/* blocks; bytes used in the last */
	uint64_t *ino;
	size_t n, cap;
	size_t errors;		/* files that could not be read */
	/* Per entry, the destination's signature of its old version (NULL:
	 * send it whole), and how many sum bytes we may still take. */
	struct delta_sig **sig;
	size_t sig_budget;
	/* Compression of file data; z.enabled is false until the caller
	 * says the link is not local (zpack_init). */
	struct zpack z;
	uint64_t ping_sent;	/* SYNC_PING's clock until its pong; 0: none awaited */
	/* defer_big: large changed files the cache knew are hashed after the
	 * walk (source_hash_deferred), once the destination has their names
	 * (source_queue_hints) and can make their signatures meanwhile. */
	bool defer_big;
	size_t deferred[SIG_HINT_MAX];
	size_t ndeferred;
	/* A file that cannot be read or vanished: "cannot read ...". */
	void (*warn)(void *arg, const char *path, const char *msg);
	void *arg;
};

/* Starts an empty manifest; cache_file may be missing or unreadable.
 * With cache_file NULL the cache comes later: source_load_cache, which
 * may run on another thread while this one walks (source_add), and
 * source_scan_done once both are over. */
void source_init(struct source *s, int rootfd, const char *cache_file);
void source_load_cache(struct source *s, const char *cache_file);
/* After the walk and source_load_cache: the entries still waiting for
 * the cache are resolved. */
void source_scan_done(struct source *s);
void source_release(struct source *s);
/* The scan callback: adds one entry (hashing it unless the cache knows
 * it).  Always 0: an unreadable file is warned about, counted and left
 * out. */
int source_add(const struct scan_entry *se, void *arg);
/* SYNC_HINT for each deferred file, on c. */
void source_queue_hints(const struct source *s, struct conn *c);
/* Hashes the deferred files; one that cannot be read is warned about,
 * counted and left out, as source_add does. */
void source_hash_deferred(struct source *s);
/* Saves the manifest as the cache for the next scan (errors ignored: it
 * is only a cache).  Nothing is written when the cache already is this
 * manifest. */
void source_save_cache(const struct source *s, const char *file);

/* The cache's paths the manifest no longer has but that are still here
 * (lstat beneath the root): a rule now leaves them out, nobody deleted
 * them, so they must not be deleted at the destination (SYNC_KEEP).
 * fn is called for each, in walk order; returns how many are files or
 * symlinks.  After source_scan_done; free when every cached path is in
 * the manifest. */
size_t source_left_out(const struct source *s, void (*fn)(void *arg, const char *path, bool is_dir), void *arg);

/* The state id of the cache (index_state_id): the base a changes-only
 * manifest is relative to.  false when there is no usable cache. */
bool source_base_id(const struct source *s, uint8_t id[INDEX_HASH_LEN]);

/* Queues the manifest on c: every entry, or with changes_only the
 * entries that differ from the cache (SYNC_ENTRY; symlinks always, as
 * the destination's index holds no link targets) and the cache's paths
 * the manifest no longer has (SYNC_DROP), merged in walk order; then
 * SYNC_ENTRIES_END.  flow(arg) runs whenever the queue passes
 * CONN_OUT_HIGH, and every MANIFEST_FLOW_EVERY frames (to look at what
 * the peer said: a pong is timed when it is read); its -1 stops
 * (returned).  0 or -1.  *sent counts the ENTRY and DROP frames. */
int source_queue_manifest(const struct source *s, struct conn *c, bool changes_only, int (*flow)(void *arg),
			  void *arg, size_t *sent);

/* A SYNC_SIG frame from the destination: it must be for the file it
 * asked for last (last_need; UINT32_MAX when none yet).  0, or -1 when
 * malformed, for another file, or past DELTA_SIG_TOTAL_MAX. */
int source_sig(struct source *s, struct rd *body, uint32_t last_need);
/* At the plan's end: every signature begun was completed.  0 or -1. */
int source_sigs_done(const struct source *s);

/* The round trip, for zstd's first level (zpack_rtt): source_ping
 * queues and sends one SYNC_PING when the link compresses (0, or -1 when
 * the write fails); source_pong takes its SYNC_PONG (0, or -1 for a pong
 * that is malformed, not the ping's, or not awaited).  Ping once the walk
 * and its hashing are done, and look for the pong while the manifest is
 * queued: it is timed when it is read. */
int source_ping(struct source *s, struct conn *c);
int source_pong(struct source *s, struct rd *body);

/* Queues the FILE, DATA and FILE_END frames of entry seq (DELTA instead
 * of DATA when the destination sent a signature; either compressed when
 * the output queue is backlogged and the data shrinks).  pace(arg, n)
 * is called after each chunk standing for n bytes of the file (to flush
 * or drain the queue);
 * its -1 stops.  1 sent, 0 could not be opened (warned, nothing queued),
 * -1 when pace failed. */
int source_send(struct source *s, struct conn *c, uint32_t seq, int (*pace)(void *arg, uint64_t n),
		void *arg);

/* One sync conversation, the source's side: the counterpart of dest_run
 * (sync-dest.h), run by the client for a push and by the agent for a
 * pull.  It sends the hints and hashes the deferred files, pings, settles
 * the base (asks for SYNC_BASE or answers it), sends SYNC_KEEP and the
 * manifest, takes the plan (each NEED validated: a file, in range, in
 * increasing order; signatures; pongs), then, unless the plan stops the
 * sync (dry run, or the guard without force), streams the needed files
 * with the queue kept bounded and reading while writing, and commits.
 * It never prints or exits: what the destination reports comes to the
 * caller's hooks. */
enum { SOURCE_CHUNK, SOURCE_FILE_DONE, SOURCE_ALL_SENT };
struct source_side {
	struct conn *c;		/* to the destination */
	struct source *src;	/* scanned and resolved (source_scan_done) */
	uint32_t flags;		/* SYNC_BEGIN's: SYNC_DRY_RUN, SYNC_FORCE */
	/* A push sent its base in SYNC_BEGIN: wait for the destination's
	 * SYNC_BASE before the manifest. */
	bool base_asked;
	/* A pull: the destination's base (SYNC_BEGIN), or NULL; compared
	 * with our cache and answered with SYNC_BASE ahead of the manifest. */
	const uint8_t *base_id;
	/* A push: SYNC_KEEP for the paths the cache has that a rule now
	 * leaves out (source_left_out). */
	bool send_keeps;
	/* A push: the destination answers the commit with SYNC_DONE. */
	bool wait_done;
	/* A frame that is not the conversation's own (a report, an ERROR):
	 * 0 to go on, -1 to stop (the caller keeps its reason).  NULL: each
	 * such frame is a protocol error. */
	int (*other)(void *arg, uint16_t type, struct rd *body);
	/* The destination broke the protocol: a frame of this type was
	 * malformed or unexpected (0: the framing itself). */
	void (*proto_error)(void *arg, uint16_t type);
	/* Bytes of file data queued (SOURCE_CHUNK), a file done
	 * (SOURCE_FILE_DONE), all of them sent (SOURCE_ALL_SENT, before the
	 * commit's answer); may be NULL. */
	void (*progress)(void *arg, uint64_t bytes, int what);
	void *arg;
};

struct source_result {
	struct sync_plan_end pe;	/* the destination's plan */
	struct sync_done done;		/* with wait_done */
	uint32_t *need;			/* entries it asked for, increasing */
	size_t nneed;
	bool changes_only;		/* the manifest held only changes */
	bool stopped;			/* dry run or guard: nothing was sent */
	size_t sent_entries;		/* ENTRY and DROP frames */
	size_t files_sent;
	struct path_sample kept;	/* SYNC_KEEP paths (files), for one line */
	bool lost;			/* the connection failed */
};

/* 0 when the conversation ended as planned (committed, or stopped at
 * the plan), -1 when the connection was lost (r->lost), the destination
 * broke the protocol (proto_error called) or a hook said stop.  r is
 * filled either way; source_result_release frees it. */
int source_run(const struct source_side *side, struct source_result *r);
void source_result_release(struct source_result *r);

#endif
