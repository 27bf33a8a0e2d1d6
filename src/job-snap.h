/*
 * job-snap.h - the code a job runs: a snapshot of the pushed tree
 * (job-snap.c).
 */
#ifndef FERRY_JOB_SNAP_H
#define FERRY_JOB_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sync-index.h"

#define SNAP_ID_BYTES 8		/* hex digits: twice this */
#define SNAP_DIR ".ferry/snap"	/* a private project's snapshots, in it */

/* The id of the code an index describes (paths, types, modes, hashes). */
char *snapshot_tree_id(const struct index *ix);
/* Where a project's snapshots are made: root (its path, for the links to
 * the live folder) as opened and checked by the caller (rootfd, never
 * looked up again), and base, the folder of snapshots: <root>/.ferry/snap
 * for a project only its user can write, a folder in the user's private
 * state for a shared one (strict: then only files ferry placed - ours, by
 * the inode the index recorded - go in, and only our own live-only names
 * are linked through). */
struct snap_where {
	const char *root;
	int rootfd;
	const char *base;
	bool strict;
};
/* Makes, or reuses, the snapshot of the tree ix describes, and links the
 * live-only names through.  A snapshot is reused only when its folder and
 * every folder in it are ours and writable by no one else; otherwise it is
 * made again.  0 with *dir (absolute) and *id (caller frees), or -errno
 * with *why. */
int snapshot_get(const struct snap_where *w, const struct index *ix, char **dir, char **id, char **why, int *hold);
/* *hold (with snapshot_get's 0) is an fd that keeps snapshot_prune away
 * from this project's snapshots until it is closed: close it once the
 * job's record is written (that record then keeps the snapshot). */
/* The code of a snapshot: the paths it was built from and the inode each
 * file got there, kept beside it as <tree>.code (a path, NUL, its inode
 * in decimal or 0, NUL; each), so whatever else is in it — or a pushed
 * file a job replaced — can be told apart as what a job wrote. */
struct code_ent {
	const char *path;
	uint64_t ino;
};
struct code_set {
	char *buf;
	struct code_ent *e;	/* sorted by path (strcmp) */
	size_t n;
};
/* 0, -ENOENT (a snapshot made before code lists were kept), -errno. */
int code_set_load(const char *base, const char *id, struct code_set *cs);
bool code_set_has(const struct code_set *cs, const char *rel);
/* The inode rel's file had in the snapshot when it was made (0: none). */
uint64_t code_set_ino(const struct code_set *cs, const char *rel);
void code_set_release(struct code_set *cs);

/* Moving what a job wrote out of its snapshot into the live project, at
 * the same path (docs/jobs.md, "A job's outputs"): a file gets a second
 * hard link there (the snapshot keeps its name for the job); a folder
 * moves and a symlink to it stays behind.  While jobs may run in the
 * snapshot, a folder moves only where that leaves no moment without the
 * name (renameat2 RENAME_EXCHANGE); once they are done, plain renames. */
struct snap_out {
	int rootfd, snapfd;
	const char *root;		/* the live project, absolute */
	const struct code_set *code;
	bool atomic_only;
	/* Set for one event: the job just made this entry (a file it wrote
	 * where the project has one replaces it, as if it ran there), and
	 * renamed it from this path of the snapshot (NULL: not a rename). */
	bool fresh;
	const char *renamed_from;
	/* In a sweep, may the job's file replace this live one?  (One this
	 * job linked itself.)  NULL: never. */
	bool (*ours)(void *arg, const char *rel, const struct stat *live);
	/* ferry's link to rel's live path is (now) in the snapshot at rel. */
	void (*linked)(void *arg, const char *rel);
	/* What happened: each moved path (rel), each path left in the
	 * snapshot because the live project has another entry there. */
	void (*moved)(void *arg, const char *rel, const struct stat *st);
	void (*kept)(void *arg, const char *rel, const char *why);
	void *arg;
	uint32_t nmoved, nkept;
};
/* One entry of the snapshot (rel, not code).  1 moved, 0 nothing to do
 * (code, gone, or already a link to the live path), -EEXIST kept (the
 * live project has another entry there: a file of the job's replaces a
 * live file, as it would have had it run there; folders merge), -EOPNOTSUPP not now (no atomic
 * exchange on this filesystem while atomic_only), other -errno. */
int snap_take(struct snap_out *o, const char *rel);
/* Once the job is over: a file the snapshot shares with the live project
 * becomes a symlink to it there (so later jobs of the same code see the
 * live file, whatever replaces it).  0 or -errno. */
int snap_relink(struct snap_out *o, const char *rel);
/* Puts a link to want at name in the snapshot folder sd, over the entry
 * there if it is still st (never over something newer).  0, -EAGAIN (it
 * changed: nothing done), -errno. */
int snap_link_over(int sd, const char *name, const char *want, const struct stat *st);
/* Every entry of the snapshot that is not code, recursively.  0 or the
 * first -errno other than -EEXIST / -EOPNOTSUPP. */
int snap_sweep(struct snap_out *o);

/* Removes the snapshots in snaps (root's) that no id in keep names, after moving
 * what jobs wrote in them out to the live project.  A snapshot that still
 * holds something (the live project had another entry at its path, or it
 * was made before code lists were kept) stays, and kept(arg, snapshot,
 * why) says so.  Returns how many went. */
int snapshot_prune(const char *root, const char *snaps, char *const *keep, size_t nkeep,
		   void (*kept)(void *arg, const char *what, const char *why), void *arg);

#endif
