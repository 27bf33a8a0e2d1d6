/*
 * sync-dest.h - the destination side of a sync, the same engine for both
 * directions: the agent runs it for a push, the client for a pull.
 *
 * It reads the source's manifest from the connection, plans against what
 * is on disk and what this side's index says ferry put there (sending
 * NEED for each file it wants), receives those files, places them
 * atomically beneath the root, deletes what the source dropped, and
 * records the new index.  Conflicts, deletions and write errors are
 * handed to the side's report callback: the agent sends them to the
 * client, the client prints them.
 *
 * Never destroy work silently: a file changed here since the last sync,
 * or present here without ferry having put it there, is a conflict unless
 * the flags say force.  Every path from the source is checked by the
 * decoder, must come in walk order and inside this side's scope, and is
 * opened beneath the root without following any symlink.
 */
#ifndef FERRY_SYNC_DEST_H
#define FERRY_SYNC_DEST_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "sync-wire.h"

struct index;

/* A pull folder of the project's (sync.pull) on the laptop side of a
 * pull.  fd >= 0: the folder is a symlink the user made to a folder of
 * their own, opened once: everything at or below path happens beneath
 * that fd (path itself is that folder).  fd < 0 with why: a symlink not
 * followed (why says so, as "a symlink to X, ...: not followed"); what
 * is below it fails as today.  fd < 0, why NULL: a plain folder (or
 * none yet): no symlink is ever placed at path. */
struct dest_redir {
	const char *path;
	int fd;
	const char *why;
};

/* Where path lives: the fd it is beneath (rootfd unless it is at or
 * below a followed redirect) and, in *rest, its path there ("" for the
 * redirected folder itself).  The longest match wins. */
int dest_base(const struct dest_redir *r, uint32_t nr, int rootfd, const char *path, const char **rest);

struct dest_side {
	struct conn *c;		/* to the source */
	int rootfd;
	const char *ixfile;	/* this side's index of what ferry put here */
	const char *jfile;	/* its journal */
	uint32_t flags;		/* SYNC_FORCE, SYNC_DRY_RUN */
	/* The source's base (SYNC_BEGIN's state id), or NULL: the engine
	 * answers SYNC_BASE first, and on a match reads a changes-only
	 * manifest, taking every other entry from its own index. */
	const uint8_t *base_id;
	/* A pull: the state id of this side's index (preloaded, below) sent
	 * in SYNC_BEGIN, or NULL.  The source compares it with its cache of
	 * what it last sent and says first (SYNC_BASE) whether its manifest
	 * holds only the changes since. */
	const uint8_t *base_sent;
	/* This side's index (ixfile) as the caller loaded it, taken over; or
	 * NULL: loaded here. */
	struct index *preloaded;
	bool *changes_only;	/* out, or NULL: the manifest held only changes */
	/* The pull folders.  A push (pull_side false) never touches them; a
	 * pull (pull_side true) touches nothing else. */
	char *const *pull;
	uint32_t npull;
	bool pull_side;
	/* A pull: the project's pull folders (struct dest_redir); none for
	 * a push. */
	const struct dest_redir *redir;
	uint32_t nredir;
	/* Words for the messages: "server" or "laptop" (this side), and
	 * "push" or "pull". */
	const char *here, *verb;
	/* A conflict, delete or write error: type is MSG_SYNC_CONFLICT,
	 * MSG_SYNC_DELETE or MSG_SYNC_ERROR. */
	void (*report)(void *arg, uint16_t type, uint32_t code, const char *path, const char *msg);
	/* A frame the engine does not expect here (an ERROR, a notice from the
	 * source): 0 to go on, -1 to stop. */
	int (*other)(void *arg, uint16_t type, struct rd *body);
	/* The source broke the protocol (a bad entry, a file not asked for). */
	void (*proto_error)(void *arg, const char *msg);
	/* An indexed path the manifest no longer has, not deleted at the
	 * source but left out by a rule (a pull's pull_ignore, a folder no
	 * longer pulled): true to forget it, leaving the file.  May be
	 * NULL.  A push learns the same from the source (SYNC_KEEP). */
	bool (*forget)(void *arg, const char *path, bool is_dir);
	/* A pull: a file edited here whose source copy did not change since
	 * the last sync is no conflict.  The edit is kept, reported once
	 * (report with MSG_SYNC_KEEP), and recorded in kept_out (path and the
	 * source's hash, in walk order); kept_in is that record from the
	 * last sync: such a file is left quietly while the source's hash
	 * stays, and is a conflict once it changed there too.  kept_out
	 * NULL: off (every such edit is a conflict). */
	const struct index *kept_in;
	struct index *kept_out;
	/* --force PATH...: these paths (and what lies below them) are
	 * overwritten; SYNC_FORCE in flags overwrites everything. */
	char *const *force_paths;
	size_t nforce;
	/* Each file the plan asks the source for; may be NULL. */
	void (*need)(void *arg, const struct sync_entry *e);
	/* Bytes of file data received (for a progress line); may be NULL. */
	void (*progress)(void *arg, uint64_t bytes, bool file_done);
	/* The open old version of a large file just replaced: freeing it
	 * (~0.4 s a GiB on ext4) may wait until the reply is out.  NULL:
	 * closed at once. */
	void (*keep_old)(void *later_arg, int fd);
	/* Makes the index durable later (fsync after the reply is out:
	 * an fsync behind a large write waits for all of its data, ~0.2 s a
	 * GiB).  NULL: fsynced before the reply. */
	void (*sync_later)(void *later_arg, const char *file);
	void *later_arg;
	void *arg;
};

/* Runs the destination side (SYNC_BASE first when side->base_id) until the source's COMMIT, or until the plan
 * when dry-running or when the mass-deletion guard trips without force.
 * Fills *pe (the plan) and *done (what happened).  0, or -1 when the
 * connection failed or the source broke the protocol (proto_error or
 * other was called, or the connection ended: *lost set). */
int dest_run(const struct dest_side *side, struct sync_plan_end *pe, struct sync_done *done, bool *lost);

/* The guard: would this plan delete too much of what the index holds? */
bool dest_guard_trips(const struct sync_plan_end *pe);

#endif
