/*
 * sync-apply.h - placing files at the destination of a sync: beneath the
 * root, no symlink ever followed, complete or not at all.
 *
 * A file is written to a temp name in its own folder
 * (APPLY_TMP_PREFIX<pid>.<n>, mode 0600), its content hash checked, its
 * mode and mtime set, and only then renamed over the real name.  A crash
 * or kill at any point leaves at most a temp file, which apply_sweep()
 * removes on the next run once its writer is gone.
 */
#ifndef FERRY_SYNC_APPLY_H
#define FERRY_SYNC_APPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sync-index.h"

#define APPLY_TMP_PREFIX ".ferry-tmp."

struct apply_file {
	int dirfd;		/* the folder it goes into */
	int fd;			/* the temp file */
	char *name;		/* final name in dirfd */
	char *tmp;		/* temp name in dirfd */
	void *hs;		/* hash state of what was written */
	uint64_t written;
	uint64_t kicked;	/* bytes handed to writeback so far */
	/* What the destination must still be at rename time (apply_expect). */
	bool expect_set, expect_exists;
	struct apply_stat {
		uint64_t size, mtime_ns, ino;
		uint32_t mode;	/* type and permission bits (st_mode) */
	} expect;
};

/* The fields of a stat that say "same file, same content". */
void apply_stat_from(struct apply_stat *a, const struct stat *st);
bool apply_stat_same(const struct apply_stat *a, const struct apply_stat *b);

/* Creates the folders of dir (relative, "" = root) beneath rootfd that
 * are missing, refusing symlinks on the way (-ELOOP).  0 or -errno. */
int apply_mkdirs(int rootfd, const char *dir, mode_t mode);

/* Starts writing path beneath rootfd (its folder must exist).  0 or
 * -errno; on error f needs no abort. */
int apply_begin(struct apply_file *f, int rootfd, const char *path);
/* 0 or -errno (-ENOSPC, -EDQUOT as they come). */
int apply_write(struct apply_file *f, const void *p, size_t n);
/* Declares what must be at the destination when the file is renamed
 * over it: nothing (exists false), or a file with exactly this stat.  The
 * planning happened earlier; someone may have written there since. */
void apply_expect(struct apply_file *f, bool exists, const struct apply_stat *st);

/* Checks the hash of what was written (-EBADMSG if it differs), sets mode
 * (its permission bits only: never setuid, setgid or sticky) and mtime, optionally fsyncs, checks the expectation (-EEXIST: something
 * appeared; -ESTALE: it changed), renames into place, and fills *placed
 * (if not NULL) with the stat of the file as placed.  Aborts on error. */
int apply_commit(struct apply_file *f, const uint8_t hash[INDEX_HASH_LEN], mode_t mode,
		 uint64_t mtime_ns, bool do_fsync, struct apply_stat *placed);
/* apply_commit in two steps, so that the caller can record the file
 * before it appears under its name (a kill between the rename and the
 * record would otherwise leave a file nobody knows ferry put there).
 * apply_prepare checks the hash, sets mode and mtime, optionally fsyncs
 * and fills *placed; apply_place checks the expectation and renames.
 * Both abort on error. */
int apply_prepare(struct apply_file *f, const uint8_t hash[INDEX_HASH_LEN], mode_t mode,
		  uint64_t mtime_ns, bool do_fsync, struct apply_stat *placed);
int apply_place(struct apply_file *f);
/* Removes the temp file.  Safe after an error and on a zeroed f. */
void apply_abort(struct apply_file *f);

/* A symlink at path (replacing what is there), via a temp name. */
int apply_symlink(int rootfd, const char *path, const char *target);
/* Removes the file or symlink (or empty folder with is_dir) at path; with
 * expect, only if it still has that stat (-ESTALE otherwise). */
int apply_remove(int rootfd, const char *path, bool is_dir, const struct apply_stat *expect);
/* lstat of path beneath rootfd (no symlink followed on the way). */
int apply_lstat(int rootfd, const char *path, struct stat *st);
/* Content hash of what is at path: a file's bytes, a symlink's target. */
int apply_hash(int rootfd, const char *path, const struct stat *st, uint8_t out[INDEX_HASH_LEN]);
/* The bytes of the regular file at path: 0, or -errno. */
int apply_hash_file(int rootfd, const char *path, uint8_t out[INDEX_HASH_LEN]);

/* readlink of path beneath rootfd into a new string (caller frees), or
 * NULL with errno set. */
char *apply_readlink(int rootfd, const char *path);

/* Removes temp files left in dir by writers that are gone (their pid no
 * longer runs).  Returns how many were removed, or -errno. */
int apply_sweep(int rootfd, const char *dir);

#endif
