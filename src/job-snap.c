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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "sync-apply.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

#define SNAP_LOCK ".lock"		/* in SNAP_DIR: starts share it, prune takes it alone */

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static char *code_path(const char *base, const char *id);
static int code_set_save(const char *path, const struct index *ix, int snapfd);

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
	/* A copy is the job's alone: no one else writes it, nor is it setuid. */
	int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0755);
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
	/* A shared project (others may write it): code that is not ours
	 * (another user put it there) stops the job; a file others could
	 * write in place is copied; a live-only name is linked through only
	 * when it is ours. */
	bool strict;
	char *foreign;		/* the first path of code that is not ours */
	uid_t foreign_uid;
};

/* In a strict build: is the entry st describes ours?  Noted if not. */
static bool strict_ours(struct builder *b, const char *path, const struct stat *st)
{
	if (!b->strict || st->st_uid == geteuid())
		return true;
	b->foreign = xstrdup(path);
	b->foreign_uid = st->st_uid;
	return false;
}

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
		/* Never writable by anyone else: what is in it stays the code. */
		if (mkdirat(b->cdst, name, (mode_t)(e->mode ? e->mode & 0755 : 0755)) < 0 && errno != EEXIST)
			return -errno;
		return 0;
	case ENT_LINK: {
		struct stat st;
		if (b->strict && fstatat(b->csrc, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !strict_ours(b, path, &st))
			return -EPERM;
		char *t = apply_readlink(b->rootfd, path);
		int r = t && symlinkat(t, b->cdst, name) < 0 && errno != EEXIST ? -errno : 0;
		free(t);
		return r;
	}
	case ENT_FILE: {
		struct stat st;
		if (fstatat(b->csrc, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			return 0;
		if (!strict_ours(b, path, &st))
			return -EPERM;
		if (!(b->strict && (st.st_mode & 022))) {
			if (linkat(b->csrc, name, b->cdst, name, 0) == 0 || errno == EEXIST)
				return 0;
			if (errno != EXDEV && errno != EPERM && errno != EMLINK)
				return -errno;
		}
		int fd = openat(b->csrc, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* What was checked is what is copied: the same inode. */
		struct stat fst;
		if (b->strict && (fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || !strict_ours(b, path, &fst))) {
			close(fd);
			return b->foreign ? -EPERM : -ESTALE;
		}
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
static int link_through(int rootfd, int snapfd, const char *root, const char *dir, const struct index *strict)
{
	int src = dir[0] ? open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0) : fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	int dst = dir[0] ? open_beneath(snapfd, dir, O_RDONLY | O_DIRECTORY, 0) : fcntl(snapfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = src >= 0 ? fdopendir(src) : NULL;
	struct dirent *de;
	int r = 0;
	if (d)
		rewinddir(d);
	while (d && dst >= 0 && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || (!dir[0] && strcmp(n, FERRY_STATE_DIR) == 0) ||
		    strncmp(n, APPLY_TMP_PREFIX, strlen(APPLY_TMP_PREFIX)) == 0)
			continue;
		struct stat st;
		if (fstatat(dst, n, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		if (strict) {
			/* Another user's name in a shared folder, or code left
			 * out as not what ferry placed: never linked through. */
			if (fstatat(src, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid())
				continue;
			char *rel = xasprintf("%s%s%s", dir, dir[0] ? "/" : "", n);
			bool code = index_find(strict, rel) != NULL;
			free(rel);
			if (code)
				continue;
		}
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
static int link_through_if(int rootfd, int snapfd, const char *root, const char *dir, const struct timespec *since,
			   const struct index *strict)
{
	struct stat st;
	int r = dir[0] ? fstatat(rootfd, dir, &st, AT_SYMLINK_NOFOLLOW) : fstat(rootfd, &st);
	if (r == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mtim.tv_sec < since->tv_sec ||
	     (st.st_mtim.tv_sec == since->tv_sec && st.st_mtim.tv_nsec < since->tv_nsec)))
		return 0;
	return link_through(rootfd, snapfd, root, dir, strict);
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

/* Is the folder fd ours and writable by no one else?  NULL, or why not. */
static const char *dir_ours(int fd, const struct stat *known)
{
	struct stat st;
	if (known == NULL && fstat(fd, &st) < 0)
		return "cannot be read";
	const struct stat *p = known ? known : &st;
	if (!S_ISDIR(p->st_mode))
		return "is not a folder";
	if (p->st_uid != geteuid())
		return "belongs to another user";
	if (p->st_mode & 022)
		return "is writable by other users";
	return NULL;
}

/* May an existing snapshot be reused?  Its folder and every folder of
 * the tree in it must be ours and writable by no one else (then no one
 * else can have put or swapped anything in it), checked through the
 * opened folder.  One fstatat per folder, none per file. */
static const char *snapshot_trusted(int snapfd, const struct index *ix)
{
	const char *w = dir_ours(snapfd, NULL);
	for (size_t i = 0; i < ix->n && w == NULL; i++) {
		if (ix->e[i].type != ENT_DIR)
			continue;
		struct stat st;
		if (fstatat(snapfd, index_path(ix, &ix->e[i]), &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* left out when it was made */
		w = dir_ours(-1, &st);
	}
	return w;
}

int snapshot_get(const struct snap_where *w, const struct index *ix, char **dir, char **id, char **why, int *hold)
{
	const char *root = w->root;
	char *tree = snapshot_tree_id(ix);
	char *base = xstrdup(w->base);
	char *final = xasprintf("%s/%s", base, tree), *tmp = NULL, *stamp = NULL, *code = NULL;
	int rootfd = -1, snapfd = -1, r = 0;
	struct builder b = { .csrc = -1, .cdst = -1, .strict = w->strict };

	*dir = NULL;
	*id = NULL;
	*why = NULL;
	*hold = -1;
	/* The root as the caller checked it, never looked up again. */
	rootfd = fcntl(w->rootfd, F_DUPFD_CLOEXEC, 0);
	if (rootfd < 0 || (r = mkdir_p(base, 0700)) < 0) {
		r = r < 0 ? r : -errno;
		*why = xasprintf("cannot make the snapshot folder '%s': %s", base, strerror(-r));
		goto out;
	}
	int bfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	const char *bad = bfd < 0 ? "is not a folder of its own (a symlink?)" : dir_ours(bfd, NULL);
	if (bfd >= 0)
		close(bfd);
	if (bad) {
		r = -EPERM;
		*why = xasprintf("the snapshot folder '%s' %s: ferry will not run code from it; remove it", base, bad);
		goto out;
	}
	/* A job starting here holds this until its record says which
	 * snapshot it uses: a prune meanwhile waits for another time. */
	char *lock = xasprintf("%s/%s", base, SNAP_LOCK);
	*hold = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(lock);
	if (*hold >= 0)
		(void)flock(*hold, LOCK_SH);
	snapfd = open(final, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (snapfd >= 0 && snapshot_trusted(snapfd, ix) != NULL) {
		/* Not ours alone: set aside (and removed where we can), and
		 * made again.  Never reused. */
		close(snapfd);
		snapfd = -1;
		char *aside = xasprintf("%s/.untrusted.%s.%ld", base, tree, (long)getpid());
		if (rename(final, aside) == 0)
			(void)rm_tree(aside);
		else if (errno != ENOENT)
			r = -errno;
		free(aside);
		char *cp = code_path(base, tree);
		(void)unlink(cp);
		free(cp);
		if (r < 0) {
			*why = xasprintf("the snapshot '%s' is not ferry's and cannot be moved aside: %s", final,
					 strerror(-r));
			goto out;
		}
	}
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
		if (r < 0 && b.foreign) {
			*why = xasprintf("'%s' in the project folder is not yours (it belongs to uid %u), so it is not "
					 "what you pushed: ferry will not run it; put yours back with "
					 "`ferry push --force %s`",
					 b.foreign, (unsigned)b.foreign_uid, b.foreign);
			goto out;
		}
		if (r < 0) {
			*why = xasprintf("cannot make the snapshot: %s", strerror(-r));
			goto out;
		}
		code = code_path(base, tree);
		if ((r = code_set_save(code, ix, snapfd)) < 0) {
			*why = xasprintf("cannot write the snapshot's code list '%s': %s", code, strerror(-r));
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
	/* Its code list: the same tree id is the same index, so a snapshot
	 * made before code lists were kept gets one when it is reused. */
	if (code == NULL)
		code = code_path(base, tree);
	if (access(code, F_OK) < 0 && (r = code_set_save(code, ix, snapfd)) < 0) {
		*why = xasprintf("cannot write the snapshot's code list '%s': %s", code, strerror(-r));
		goto out;
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
	const struct index *strict = b.strict ? ix : NULL;
	r = link_through_if(rootfd, snapfd, root, "", &since, strict);
	for (size_t i = 0; i < ix->n && r == 0; i++)
		if (ix->e[i].type == ENT_DIR)
			r = link_through_if(rootfd, snapfd, root, index_path(ix, &ix->e[i]), &since, strict);
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
	if (r < 0 && *hold >= 0) {
		close(*hold);
		*hold = -1;
	}
	if (b.csrc >= 0)
		close(b.csrc);
	if (b.cdst >= 0)
		close(b.cdst);
	free(b.cdir);
	free(b.foreign);
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
	free(code);
	free(tree);
	return r;
}

/* ---- code lists ---- */

static char *code_path(const char *base, const char *id)
{
	return xasprintf("%s/%s.code", base, id);
}

static int code_set_save(const char *path, const struct index *ix, int snapfd)
{
	struct buf b;
	buf_init(&b, SNAP_CODE_MAX);
	int r = 0;
	for (size_t i = 0; i < ix->n && r == 0; i++) {
		const char *p = index_path(ix, &ix->e[i]);
		struct stat st;
		char num[24];
		uint64_t ino = ix->e[i].type == ENT_FILE && fstatat(snapfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			       S_ISREG(st.st_mode) ? (uint64_t)st.st_ino : 0;
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ino);
		if (buf_put(&b, p, strlen(p) + 1) < 0 || buf_put(&b, num, strlen(num) + 1) < 0)
			r = -EFBIG;
	}
	if (r == 0)
		r = write_file_atomic(path, b.data, b.len, 0600, 0);
	buf_release(&b);
	return r;
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct code_ent *)a)->path, ((const struct code_ent *)b)->path);
}

int code_set_load(const char *base, const char *id, struct code_set *cs)
{
	char *path = code_path(base, id);
	size_t len = 0;
	memset(cs, 0, sizeof(*cs));
	int r = read_file(path, SNAP_CODE_MAX, &cs->buf, &len);
	free(path);
	if (r < 0)
		return r;
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += cs->buf[i] == '\0';
	cs->e = xcalloc(n / 2 + 1, sizeof(*cs->e));
	/* Pairs of NUL-terminated strings; a torn last one is left out. */
	const char *field[2];
	int k = 0;
	for (size_t i = 0, start = 0; i < len; i++) {
		if (cs->buf[i] != '\0')
			continue;
		field[k++] = cs->buf + start;
		start = i + 1;
		if (k == 2) {
			k = 0;
			if (field[0][0]) {
				cs->e[cs->n].path = field[0];
				cs->e[cs->n].ino = strtoull(field[1], NULL, 10);
				cs->n++;
			}
		}
	}
	qsort(cs->e, cs->n, sizeof(*cs->e), cmp_ent);
	return 0;
}

static const struct code_ent *code_find(const struct code_set *cs, const char *rel)
{
	struct code_ent key = { .path = rel };
	return cs->n ? bsearch(&key, cs->e, cs->n, sizeof(*cs->e), cmp_ent) : NULL;
}

bool code_set_has(const struct code_set *cs, const char *rel)
{
	return code_find(cs, rel) != NULL;
}

uint64_t code_set_ino(const struct code_set *cs, const char *rel)
{
	const struct code_ent *e = code_find(cs, rel);
	return e ? e->ino : 0;
}

void code_set_release(struct code_set *cs)
{
	free(cs->buf);
	free(cs->e);
	memset(cs, 0, sizeof(*cs));
}

/* ---- moving a job's outputs out ---- */

static int rename2(int ofd, const char *o, int nfd, const char *n, unsigned flags)
{
	/* The system call itself: glibc has a wrapper only from 2.28. */
#ifdef SYS_renameat2
	return syscall(SYS_renameat2, ofd, o, nfd, n, flags) < 0 ? -errno : 0;
#else
	return -ENOSYS;
#endif
}

/* The filesystem or kernel has no such rename (EINVAL: a flag the kernel
 * or filesystem does not know; EPERM: a seccomp filter, and then the plain
 * rename that follows fails too where the refusal was real). */
static bool no_rename2(int r)
{
	return r == -EINVAL || r == -ENOSYS || r == -EOPNOTSUPP || r == -EPERM;
}

/* Nothing at name in dfd, known for sure: any other error (EPERM, EIO) is
 * not proof of absence.  Not faccessat(AT_SYMLINK_NOFOLLOW): glibc makes
 * it faccessat2 (Linux 5.8), which seccomp filters answer EPERM. */
static bool absent_at(int dfd, const char *name)
{
	struct stat st;
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

static int dir_fd(int base, const char *d)
{
	int fd = d[0] ? open_beneath(base, d, O_RDONLY | O_DIRECTORY, 0) : fcntl(base, F_DUPFD_CLOEXEC, 0);
	return fd < 0 && !d[0] ? -errno : fd;
}

static char *link_at(int dirfd, const char *name)
{
	char t[PATH_REL_MAX + 4096];
	ssize_t n = readlinkat(dirfd, name, t, sizeof(t) - 1);
	if (n < 0)
		return NULL;
	t[n] = '\0';
	return xstrdup(t);
}

static void tmp_name(char *out, size_t n)
{
	static unsigned seq;
	snprintf(out, n, "%sout.%ld.%u", APPLY_TMP_PREFIX, (long)getpid(), seq++);
}

static void note_kept(struct snap_out *o, const char *rel, const char *why)
{
	o->nkept++;
	if (o->kept)
		o->kept(o->arg, rel, why);
}

static void note_moved(struct snap_out *o, const char *rel, const struct stat *st)
{
	o->nmoved++;
	if (o->moved)
		o->moved(o->arg, rel, st);
}

/* Names in a folder, read whole before anything in it moves. */
static char **names_in(int dfd, size_t *n)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	*n = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return xcalloc(1, sizeof(char *));
	}
	/* A dup shares its position with every other dup of the folder's
	 * fd: from the start, whoever read it before. */
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n + 2 > cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof(char *));
		}
		v[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (v == NULL)
		v = xcalloc(1, sizeof(char *));
	v[*n] = NULL;
	return v;
}

static char *join(const char *d, const char *n)
{
	return d[0] ? xasprintf("%s/%s", d, n) : xstrdup(n);
}

/* Puts a link to want at name in the snapshot folder sd, over the entry
 * there, if that entry is still the one the caller moved (st): never over
 * something newer the job put there meanwhile.  0, -EAGAIN (the job was
 * faster: nothing changed), -errno. */
int snap_link_over(int sd, const char *name, const char *want, const struct stat *st)
{
	char t[64];
	struct stat now;
	tmp_name(t, sizeof(t));
	if (symlinkat(want, sd, t) < 0)
		return -errno;
	int r = rename2(sd, t, sd, name, RENAME_EXCHANGE);
	if (r == 0) {
		/* What came out must be what moved; else put it back. */
		if (fstatat(sd, t, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (now.st_ino != st->st_ino || now.st_dev != st->st_dev)) {
			(void)rename2(sd, t, sd, name, RENAME_EXCHANGE);
			r = -EAGAIN;
		}
		unlinkat(sd, t, 0);
		return r;
	}
	if (!no_rename2(r)) {
		unlinkat(sd, t, 0);
		return r;
	}
	/* No exchange on this filesystem: check, then replace. */
	if (fstatat(sd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		unlinkat(sd, t, 0);
		return -EAGAIN;
	}
	if (renameat(sd, t, sd, name) < 0) {
		r = -errno;
		unlinkat(sd, t, 0);
		return r;
	}
	return 0;
}

/* A file (or a link the job made) at name in the snapshot gets a second
 * hard link at its live path: the job keeps its name, its open files and
 * its bytes, the live project has the same file, and it needs nothing a
 * filesystem may lack.  With replace, over the live entry.  1, or -errno
 * (-EEXIST: the live project has an entry there). */
static int move_file(struct snap_out *o, int sd, int ld, const char *name, const char *rel, const struct stat *st,
		     bool replace)
{
	char t[64];
	if (replace) {
		tmp_name(t, sizeof(t));
		if (linkat(sd, name, ld, t, 0) < 0)
			return -errno;
		int r = renameat(ld, t, ld, name) < 0 ? -errno : 0;
		/* rename between two links of one file does nothing. */
		unlinkat(ld, t, 0);
		if (r < 0)
			return r;
	} else if (linkat(sd, name, ld, name, 0) < 0) {
		return -errno;
	}
	note_moved(o, rel, st);
	return 1;
}

int snap_relink(struct snap_out *o, const char *rel)
{
	const char *slash = strrchr(rel, '/'), *name = slash ? slash + 1 : rel;
	char *dir = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	char *want = xasprintf("%s/%s", o->root, rel);
	int sd = dir_fd(o->snapfd, dir), r = 0;
	int lf = open_beneath(o->rootfd, rel, O_PATH | O_NOFOLLOW, 0);
	struct stat st, lst;
	if (sd >= 0 && lf >= 0 && fstatat(sd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    fstat(lf, &lst) == 0 && lst.st_ino == st.st_ino && lst.st_dev == st.st_dev)
		r = snap_link_over(sd, name, want, &st);
	if (sd >= 0)
		close(sd);
	if (lf >= 0)
		close(lf);
	free(dir);
	free(want);
	return r == -EAGAIN ? 0 : r;
}

static int take_children(struct snap_out *o, const char *rel)
{
	int fd = dir_fd(o->snapfd, rel), r = 0;
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	size_t n;
	char **names = names_in(fd, &n);
	close(fd);
	for (size_t i = 0; i < n; i++) {
		char *c = join(rel, names[i]);
		int k = snap_take(o, c);
		if (k < 0 && k != -EEXIST && k != -EOPNOTSUPP && r == 0)
			r = k;
		free(c);
	}
	free_words(names);
	return r;
}

/* ferry's own state in the snapshot (a job that runs ferry there): never
 * taken out, never let near the live .ferry. */
static bool ferry_own(const char *rel)
{
	size_t n = strlen(FERRY_STATE_DIR);
	return strncmp(rel, FERRY_STATE_DIR, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

int snap_take(struct snap_out *o, const char *rel)
{
	if (code_set_has(o->code, rel) || ferry_own(rel))
		return 0;
	const char *slash = strrchr(rel, '/'), *name = slash ? slash + 1 : rel;
	char *dir = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	char *want = xasprintf("%s/%s", o->root, rel), *target = NULL;
	int sd = dir_fd(o->snapfd, dir), ld = -1, r = 0;
	struct stat st, lst;
	char tmp[64];

	if (sd < 0) {
		r = sd == -ENOENT ? 0 : sd;
		goto out;
	}
	if (fstatat(sd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	ld = dir_fd(o->rootfd, dir);
	if (ld == -ENOENT) {
		char *p = xasprintf("%s/%s", o->root, dir);
		(void)mkdir_p(p, 0755);
		free(p);
		ld = dir_fd(o->rootfd, dir);
	}
	if (S_ISLNK(st.st_mode) && (target = link_at(sd, name)) != NULL) {
		if (strcmp(target, want) == 0) {
			if (o->linked)
				o->linked(o->arg, rel);
			goto out;	/* already a link to its live path */
		}
	}
	if (ld < 0) {
		note_kept(o, rel, "its folder in the project is not a folder");
		r = -EEXIST;
		goto out;
	}
	if (fstatat(ld, name, &lst, AT_SYMLINK_NOFOLLOW) == 0) {
		if (lst.st_ino == st.st_ino && lst.st_dev == st.st_dev)
			goto out;	/* the same file, linked before */
		if (S_ISDIR(st.st_mode) && S_ISDIR(lst.st_mode)) {
			r = take_children(o, rel);
		} else if (S_ISREG(st.st_mode) && S_ISREG(lst.st_mode) &&
			   (o->fresh || (o->ours && o->ours(o->arg, rel, &lst)))) {
			/* The job just wrote a file where the project has one
			 * (a new checkpoint renamed over the old one): the new
			 * one takes the live path, as if the job ran there.
			 * A sweep replaces only a file this job put there: an
			 * old leftover never goes over a newer live file. */
			r = move_file(o, sd, ld, name, rel, &st, true);
		} else {
			note_kept(o, rel, "the project folder has another entry at that path");
			r = -EEXIST;
		}
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = move_file(o, sd, ld, name, rel, &st, false);
		if (r == -EEXIST)
			note_kept(o, rel, "the project folder has another entry at that path");
		if (r == -EXDEV)
			note_kept(o, rel, "the project folder there is another filesystem");
		if (r != -EPERM && r != -EMLINK && r != -EOPNOTSUPP)
			goto out;
		/* No hard links here: as a folder, below. */
	}
	/* A folder: a link to itself takes the live name first (so no one
	 * else can), then one exchange puts the job's entry there and the
	 * link in the snapshot: at no moment does the job's path lead
	 * nowhere. */
	tmp_name(tmp, sizeof(tmp));
	if (symlinkat(want, ld, tmp) < 0) {
		r = -errno;
		goto out;
	}
	r = rename2(ld, tmp, ld, name, RENAME_NOREPLACE);
	if (r == 0) {
		r = rename2(sd, name, ld, name, RENAME_EXCHANGE);
		if (r == 0) {
			note_moved(o, rel, &st);
			if (o->linked)
				o->linked(o->arg, rel);
			r = 1;
			goto out;
		}
		unlinkat(ld, name, 0);
	} else {
		unlinkat(ld, tmp, 0);
		if (r == -EEXIST) {
			note_kept(o, rel, "the project folder has another entry at that path");
			goto out;
		}
	}
	if (r == -EXDEV)
		note_kept(o, rel, "the project folder there is another filesystem");
	if (!no_rename2(r))
		goto out;
	if (o->atomic_only) {
		r = -EOPNOTSUPP;
		goto out;
	}
	/* No exchange here (NFS, old kernels): no job runs in the snapshot
	 * any more, so a rename then a link will do. */
	if (!absent_at(ld, name)) {
		note_kept(o, rel, "the project folder has another entry at that path");
		r = -EEXIST;
		goto out;
	}
	if (renameat(sd, name, ld, name) < 0) {
		r = -errno;
		goto out;
	}
	if (symlinkat(want, sd, name) < 0)
		r = -errno;
	note_moved(o, rel, &st);
	r = r < 0 ? r : 1;
out:
	/* A file renamed within the snapshot: its old name's live twin
	 * (the same file, linked out before) goes, as the job's own old
	 * name went. */
	if (r >= 0 && o->renamed_from && ld >= 0 && S_ISREG(st.st_mode)) {
		const char *rf = o->renamed_from, *rs = strrchr(rf, '/');
		char *fdir = rs ? xstrndup(rf, (size_t)(rs - rf)) : xstrdup("");
		int fl = dir_fd(o->rootfd, fdir), fs = dir_fd(o->snapfd, fdir);
		struct stat now, cur;
		const char *fname = rs ? rs + 1 : rf;
		if (fl >= 0 && fs >= 0 && absent_at(fs, fname) &&
		    fstatat(fl, fname, &now, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(now.st_mode) &&
		    fstatat(ld, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == cur.st_ino &&
		    now.st_dev == cur.st_dev && now.st_ino == st.st_ino)
			unlinkat(fl, fname, 0);
		if (fl >= 0)
			close(fl);
		if (fs >= 0)
			close(fs);
		free(fdir);
	}
	if (sd >= 0)
		close(sd);
	if (ld >= 0)
		close(ld);
	free(dir);
	free(want);
	free(target);
	return r;
}

static int sweep_dir(struct snap_out *o, const char *rel)
{
	int fd = dir_fd(o->snapfd, rel), r = 0;
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	size_t n;
	char **names = names_in(fd, &n);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], APPLY_TMP_PREFIX, strlen(APPLY_TMP_PREFIX)) == 0)
			continue;
		char *c = join(rel, names[i]);
		struct stat st;
		int k = 0;
		if (ferry_own(c)) {
			free(c);
			continue;
		}
		if (code_set_has(o->code, c)) {
			uint64_t ino = code_set_ino(o->code, c);
			if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
				k = sweep_dir(o, c);
			else if (ino && (errno = 0, fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW)) == 0 &&
				 (uint64_t)st.st_ino != ino)
				/* Not the file pushed: the job replaced it. */
				note_kept(o, c, "a pushed file the job replaced (the project has the pushed one)");
		} else {
			k = snap_take(o, c);
		}
		if (k < 0 && k != -EEXIST && k != -EOPNOTSUPP && r == 0)
			r = k;
		free(c);
	}
	close(fd);
	free_words(names);
	return r;
}

int snap_sweep(struct snap_out *o)
{
	return sweep_dir(o, "");
}

struct prune_note {
	const char *base, *snap;
	void (*kept)(void *arg, const char *what, const char *why);
	void *arg;
};

static void prune_kept(void *arg, const char *rel, const char *why)
{
	struct prune_note *pn = arg;
	char *what = xasprintf("%s/%s/%s", pn->base, pn->snap, rel);
	if (pn->kept)
		pn->kept(pn->arg, what, why);
	free(what);
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n > k && strcmp(s + n - k, suf) == 0;
}

int snapshot_prune(const char *root, const char *snaps, char *const *keep, size_t nkeep,
		   void (*kept)(void *arg, const char *what, const char *why), void *arg)
{
	/* Named as the user knows it: beneath the project, relative. */
	size_t rl = strlen(root);
	const char *shown = strncmp(snaps, root, rl) == 0 && snaps[rl] == '/' ? snaps + rl + 1 : snaps;
	char *base = xstrdup(snaps), *lock = xasprintf("%s/%s", base, SNAP_LOCK);
	int lk = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(lock);
	if (lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) < 0) {
		/* A job is starting in one of them: next time. */
		close(lk);
		free(base);
		return 0;
	}
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = rootfd >= 0 ? opendir(base) : NULL;
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || has_suffix(de->d_name, ".linked") || has_suffix(de->d_name, ".code"))
			continue;
		bool used = false;
		for (size_t i = 0; i < nkeep && !used; i++)
			used = keep[i] && strcmp(keep[i], de->d_name) == 0;
		if (used)
			continue;
		struct code_set cs;
		if (code_set_load(base, de->d_name, &cs) < 0) {
			char *what = xasprintf("%s/%s", shown, de->d_name);
			if (kept)
				kept(arg, what, "made by an older ferry, it may hold files a job wrote: "
					   "look in it, then remove it by hand");
			free(what);
			continue;
		}
		char *p = xasprintf("%s/%s", base, de->d_name);
		int snapfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		struct prune_note pn = { .base = shown, .snap = de->d_name, .kept = kept, .arg = arg };
		struct snap_out o = { .rootfd = rootfd, .snapfd = snapfd, .root = root, .code = &cs,
				      .kept = prune_kept, .arg = &pn };
		/* What jobs wrote there goes to the live project first; a
		 * snapshot that still holds some of it stays. */
		if (snapfd >= 0 && snap_sweep(&o) == 0 && o.nkept == 0) {
			char *st = xasprintf("%s.linked", p), *cp = code_path(base, de->d_name);
			if (rm_tree(p) == 0) {
				n++;
				unlink(st);
				unlink(cp);
			}
			free(st);
			free(cp);
		}
		if (snapfd >= 0)
			close(snapfd);
		code_set_release(&cs);
		free(p);
	}
	if (d)
		closedir(d);
	if (rootfd >= 0)
		close(rootfd);
	if (lk >= 0)
		close(lk);
	free(base);
	return n;
}
