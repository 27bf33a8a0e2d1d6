/*
 * job-snap.c - code snapshots for jobs (job-snap.h).
 *
 * A snapshot is the push set as ferry last placed it, as hard links in
 * <root>/.ferry/snap/<tree>/ (same filesystem as the project, so no data
 * is copied; a copy only where a link is refused).  Push replaces files by
 * rename, never in place, so a later push gives the live folder new
 * inodes and leaves the snapshot's alone: a running job keeps its code.
 *
 * Everything ferry does not manage - data folders, virtualenvs, pull
 * folders, files made on the server - is a symlink from the snapshot to
 * the live folder, so `data/` is found and `results/` is written where
 * `ferry pull` fetches it.  Those links are refreshed at every start.
 */
#define _GNU_SOURCE
#include "job-snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "sync-apply.h"
#include "sync-scan.h"
#include "util.h"

#define SNAP_DIR ".ferry/snap"

char *snapshot_tree_id(const struct index *ix)
{
	/* Path, type, mode and content of every entry: what the code is,
	 * not when or where it was written. */
	struct buf b;
	uint8_t h[INDEX_HASH_LEN];
	char *hex = xmalloc(2 * SNAP_ID_BYTES + 1);
	buf_init(&b, INDEX_PATHS_MAX + (size_t)ix->n * 32);
	for (size_t i = 0; i < ix->n; i++) {
		const struct index_entry *e = &ix->e[i];
		buf_put_cstr(&b, index_path(ix, e));
		buf_put_u8(&b, e->type);
		buf_put_u16(&b, e->mode);
		buf_put(&b, e->hash, INDEX_HASH_LEN);
	}
	hash_bytes(b.data, b.len, h);
	buf_release(&b);
	for (int i = 0; i < SNAP_ID_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return hex;
}

/* Copies src (an open regular file) into a new file name in dirfd. */
static int copy_into(int src, int dirfd, const char *name, mode_t mode)
{
	int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (out < 0)
		return -errno;
	char b[HASH_CHUNK];
	ssize_t n;
	int r = 0;
	while ((n = read(src, b, sizeof(b))) > 0)
		if ((r = write_all(out, b, (size_t)n)) < 0)
			break;
	if (n < 0)
		r = -errno;
	close(out);
	return r;
}

struct builder {
	int rootfd, snapfd;
	char *cdir;		/* folder whose fds are cached */
	int csrc, cdst;
	size_t copied;
};

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The fds of path's folder in the live tree and in the snapshot. */
static int dirs_of(struct builder *b, const char *path)
{
	const char *s = strrchr(path, '/');
	size_t dl = s ? (size_t)(s - path) : 0;
	if (b->cdir && strlen(b->cdir) == dl && strncmp(b->cdir, path, dl) == 0)
		return b->csrc >= 0 && b->cdst >= 0 ? 0 : -ENOENT;
	if (b->csrc >= 0)
		close(b->csrc);
	if (b->cdst >= 0)
		close(b->cdst);
	free(b->cdir);
	b->cdir = xstrndup(path, dl);
	if (dl) {
		b->csrc = open_beneath(b->rootfd, b->cdir, O_RDONLY | O_DIRECTORY, 0);
		b->cdst = open_beneath(b->snapfd, b->cdir, O_RDONLY | O_DIRECTORY, 0);
	} else {
		b->csrc = fcntl(b->rootfd, F_DUPFD_CLOEXEC, 0);
		b->cdst = fcntl(b->snapfd, F_DUPFD_CLOEXEC, 0);
	}
	return b->csrc >= 0 && b->cdst >= 0 ? 0 : -ENOENT;
}

/* One entry of the index into the snapshot.  A file that is no longer
 * what ferry placed (gone, a folder now) is left out: the job sees what
 * is really there through nothing, as the push would have it. */
static int place(struct builder *b, const struct index *ix, const struct index_entry *e)
{
	const char *path = index_path(ix, e), *name = base_of(path);
	if (dirs_of(b, path) < 0)
		return 0;
	switch (e->type) {
	case ENT_DIR:
		if (mkdirat(b->cdst, name, (mode_t)(e->mode ? e->mode : 0755)) < 0 && errno != EEXIST)
			return -errno;
		return 0;
	case ENT_LINK: {
		char *t = apply_readlink(b->rootfd, path);
		int r = t && symlinkat(t, b->cdst, name) < 0 && errno != EEXIST ? -errno : 0;
		free(t);
		return r;
	}
	case ENT_FILE: {
		struct stat st;
		if (fstatat(b->csrc, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			return 0;
		if (linkat(b->csrc, name, b->cdst, name, 0) == 0 || errno == EEXIST)
			return 0;
		if (errno != EXDEV && errno != EPERM && errno != EMLINK)
			return -errno;
		int fd = openat(b->csrc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int r = copy_into(fd, b->cdst, name, st.st_mode);
		close(fd);
		b->copied++;
		return r;
	}
	}
	return 0;
}

/* Links through to the live folder every name in folder dir (relative,
 * "" = root) that the snapshot does not have. */
static int link_through(int rootfd, int snapfd, const char *root, const char *dir)
{
	int src = dir[0] ? open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0) : fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	int dst = dir[0] ? open_beneath(snapfd, dir, O_RDONLY | O_DIRECTORY, 0) : fcntl(snapfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = src >= 0 ? fdopendir(src) : NULL;
	struct dirent *de;
	int r = 0;
	while (d && dst >= 0 && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || (!dir[0] && strcmp(n, FERRY_STATE_DIR) == 0) ||
		    strncmp(n, APPLY_TMP_PREFIX, strlen(APPLY_TMP_PREFIX)) == 0)
			continue;
		struct stat st;
		if (fstatat(dst, n, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		char *target = xasprintf("%s/%s%s%s", root, dir, dir[0] ? "/" : "", n);
		if (symlinkat(target, dst, n) < 0 && errno != EEXIST)
			r = -errno;
		free(target);
	}
	if (d)
		closedir(d);
	else if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return r;
}

/* link_through, unless the live folder is older than since. */
static int link_through_if(int rootfd, int snapfd, const char *root, const char *dir, const struct timespec *since)
{
	struct stat st;
	int r = dir[0] ? fstatat(rootfd, dir, &st, AT_SYMLINK_NOFOLLOW) : fstat(rootfd, &st);
	if (r == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mtim.tv_sec < since->tv_sec ||
	     (st.st_mtim.tv_sec == since->tv_sec && st.st_mtim.tv_nsec < since->tv_nsec)))
		return 0;
	return link_through(rootfd, snapfd, root, dir);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes a tree without following symlinks (they are removed as links). */
static int rm_tree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 ? -errno : 0;
}

int snapshot_get(const char *root, const struct index *ix, char **dir, char **id, char **why)
{
	char *tree = snapshot_tree_id(ix);
	char *base = xasprintf("%s/%s", root, SNAP_DIR);
	char *final = xasprintf("%s/%s", base, tree), *tmp = NULL, *stamp = NULL;
	int rootfd = -1, snapfd = -1, r = 0;
	struct builder b = { .csrc = -1, .cdst = -1 };

	*dir = NULL;
	*id = NULL;
	*why = NULL;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || (r = mkdir_p(base, 0700)) < 0) {
		r = r < 0 ? r : -errno;
		*why = xasprintf("cannot make the snapshot folder '%s': %s", base, strerror(-r));
		goto out;
	}
	snapfd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (snapfd < 0) {
		/* Built under a temp name, renamed when complete: a snapshot
		 * that exists is whole. */
		tmp = xasprintf("%s/.tmp.%ld", base, (long)getpid());
		(void)rm_tree(tmp);
		if (mkdir(tmp, 0755) < 0 || (snapfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			r = -errno;
			*why = xasprintf("cannot make the snapshot '%s': %s", tmp, strerror(-r));
			goto out;
		}
		b.rootfd = rootfd;
		b.snapfd = snapfd;
		for (size_t i = 0; i < ix->n && r == 0; i++)
			r = place(&b, ix, &ix->e[i]);
		if (r < 0) {
			*why = xasprintf("cannot make the snapshot: %s", strerror(-r));
			goto out;
		}
		if (rename(tmp, final) < 0 && errno != ENOTEMPTY && errno != EEXIST) {
			r = -errno;
			*why = xasprintf("cannot make the snapshot '%s': %s", final, strerror(-r));
			goto out;
		}
		(void)rm_tree(tmp);	/* lost a race: the other one is as good */
		close(snapfd);
		snapfd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (snapfd < 0) {
			r = -errno;
			*why = xasprintf("cannot open the snapshot '%s': %s", final, strerror(-r));
			goto out;
		}
	}
	/* The live-only names, at the root and in every folder of the set;
	 * a folder whose entries did not change since the last refresh (its
	 * mtime is older than the stamp) is skipped. */
	stamp = xasprintf("%s.linked", final);
	struct stat sst;
	struct timespec since = { 0, 0 };
	if (stat(stamp, &sst) == 0)
		since = sst.st_mtim;
	struct timespec began;
	clock_gettime(CLOCK_REALTIME, &began);
	r = link_through_if(rootfd, snapfd, root, "", &since);
	for (size_t i = 0; i < ix->n && r == 0; i++)
		if (ix->e[i].type == ENT_DIR)
			r = link_through_if(rootfd, snapfd, root, index_path(ix, &ix->e[i]), &since);
	if (r < 0) {
		*why = xasprintf("cannot link the snapshot to the live folder: %s", strerror(-r));
		goto out;
	}
	/* The stamp says when this refresh began: a change made during it
	 * is newer and is seen next time. */
	int sfd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sfd >= 0) {
		struct timespec ts[2] = { began, began };
		(void)futimens(sfd, ts);
		close(sfd);
	}
	*dir = final;
	*id = tree;
	final = tree = NULL;
out:
	if (b.csrc >= 0)
		close(b.csrc);
	if (b.cdst >= 0)
		close(b.cdst);
	free(b.cdir);
	if (tmp) {
		if (r < 0)
			(void)rm_tree(tmp);
		free(tmp);
	}
	if (rootfd >= 0)
		close(rootfd);
	if (snapfd >= 0)
		close(snapfd);
	free(base);
	free(final);
	free(stamp);
	free(tree);
	return r;
}

int snapshot_prune(const char *root, char *const *keep, size_t nkeep)
{
	char *base = xasprintf("%s/%s", root, SNAP_DIR);
	DIR *d = opendir(base);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (de->d_name[0] == '.' || (nl > 7 && strcmp(de->d_name + nl - 7, ".linked") == 0))
			continue;
		bool used = false;
		for (size_t i = 0; i < nkeep && !used; i++)
			used = keep[i] && strcmp(keep[i], de->d_name) == 0;
		if (used)
			continue;
		char *p = xasprintf("%s/%s", base, de->d_name), *st = xasprintf("%s.linked", p);
		if (rm_tree(p) == 0)
			n++;
		unlink(st);
		free(p);
		free(st);
	}
	if (d)
		closedir(d);
	free(base);
	return n;
}
