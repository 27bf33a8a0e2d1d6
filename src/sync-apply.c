/*
 * sync-apply.c - atomic placement beneath a root (see sync-apply.h).
 *
 * Every path is opened through open_beneath() or relative to a folder fd
 * obtained that way, with O_NOFOLLOW on the last component, so a symlink
 * planted by anyone at the destination can never redirect a write out of
 * the root — or inside it.
 */
#define _GNU_SOURCE
#include "sync-apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fsx.h"
#include "limits.h"
#include "mon-proc.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

static unsigned tmp_counter;

/* The folder of path, opened beneath rootfd, and the last component. */
static int open_parent(int rootfd, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	if (path_check_rel(path, strlen(path)) < 0)
		return -EINVAL;
	if (slash == NULL) {
		*name = path;
		int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	char *dir = xstrndup(path, (size_t)(slash - path));
	int fd = open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	*name = slash + 1;
	return fd;
}

int apply_mkdirs(int rootfd, const char *dir, mode_t mode)
{
	if (dir[0] == '\0')
		return 0;
	if (path_check_rel(dir, strlen(dir)) < 0)
		return -EINVAL;
	char *copy = xstrdup(dir);
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0), r = 0;
	char *comp = copy;
	if (cur < 0) {
		free(copy);
		return -errno;
	}
	while (comp && *comp) {
		char *slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			/* A symlink (ELOOP) or a file (ENOTDIR) where a folder goes. */
			r = errno == ENOTDIR ? -ENOTDIR : -errno;
			break;
		}
		close(cur);
		cur = next;
		comp = slash ? slash + 1 : NULL;
	}
	close(cur);
	free(copy);
	return r;
}

int apply_begin(struct apply_file *f, int rootfd, const char *path)
{
	const char *name;
	memset(f, 0, sizeof(*f));
	f->dirfd = f->fd = -1;
	int dfd = open_parent(rootfd, path, &name);
	if (dfd < 0)
		return dfd;
	for (int tries = 0; tries < 100; tries++) {
		char *tmp = xasprintf("%s%ld.%u", APPLY_TMP_PREFIX, (long)getpid(), tmp_counter++);
		int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			f->dirfd = dfd;
			f->fd = fd;
			f->tmp = tmp;
			f->name = xstrdup(name);
			/* XXH3_state_t wants 64-byte alignment, more than
			 * malloc promises: xxHash's own allocator gives it. */
			f->hs = XXH3_createState();
			if (f->hs == NULL)
				oom(sizeof(XXH3_state_t));
			XXH3_128bits_reset(f->hs);
			return 0;
		}
		int e = errno;
		free(tmp);
		if (e != EEXIST) {
			close(dfd);
			return -e;
		}
	}
	close(dfd);
	return -EEXIST;
}

int apply_write(struct apply_file *f, const void *p, size_t n)
{
	int r = write_all(f->fd, p, n);
	if (r == 0) {
		XXH3_128bits_update(f->hs, p, n);
		f->written += n;
		/* A large file: its data goes to the disk while the rest
		 * arrives, instead of all at once when the rename over the old
		 * version makes ext4 flush it (auto_da_alloc).  Only started,
		 * never waited for: not a durability step. */
		if (f->written - f->kicked >= APPLY_WRITEBACK_CHUNK) {
			(void)sync_file_range(f->fd, (off_t)f->kicked, (off_t)(f->written - f->kicked),
					      SYNC_FILE_RANGE_WRITE);
			f->kicked = f->written;
		}
	}
	return r;
}

void apply_abort(struct apply_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp && f->dirfd >= 0)
		unlinkat(f->dirfd, f->tmp, 0);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->tmp);
	free(f->name);
	XXH3_freeState(f->hs);
	memset(f, 0, sizeof(*f));
	f->dirfd = f->fd = -1;
}

void apply_stat_from(struct apply_stat *a, const struct stat *st)
{
	a->size = (uint64_t)st->st_size;
	a->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
	a->ino = (uint64_t)st->st_ino;
	a->mode = (uint32_t)st->st_mode;
}

bool apply_stat_same(const struct apply_stat *a, const struct apply_stat *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino && a->mode == b->mode;
}

void apply_expect(struct apply_file *f, bool exists, const struct apply_stat *st)
{
	f->expect_set = true;
	f->expect_exists = exists;
	if (exists)
		f->expect = *st;
}

int apply_prepare(struct apply_file *f, const uint8_t hash[INDEX_HASH_LEN], mode_t mode,
		  uint64_t mtime_ns, bool do_fsync, struct apply_stat *placed)
{
	XXH128_canonical_t c;
	int r = 0;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(f->hs));
	if (memcmp(c.digest, hash, INDEX_HASH_LEN) != 0) {
		r = -EBADMSG;
		goto out;
	}
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)(mtime_ns / 1000000000u), .tv_nsec = (long)(mtime_ns % 1000000000u) },
	};
	struct stat pst;
	if (fchmod(f->fd, mode & 0777) < 0 || futimens(f->fd, ts) < 0 ||
	    (do_fsync && fsync(f->fd) < 0) || fstat(f->fd, &pst) < 0) {
		r = -errno;
		goto out;
	}
	if (close(f->fd) < 0) {
		/* NFS and friends report a failed write here. */
		f->fd = -1;
		r = -errno;
		goto out;
	}
	f->fd = -1;
	if (placed)
		apply_stat_from(placed, &pst);
	return 0;
out:
	apply_abort(f);
	return r;
}

/* tmp to name in dfd, never over an entry that is there: renameat2's
 * RENAME_NOREPLACE (Linux 3.15, and per filesystem: NFS and others learnt
 * it later); else a hard link, which fails on an existing name just as
 * atomically, then the temp name goes.  Where neither exists (a seccomp
 * filter, a filesystem without hard links), a check then a rename: only
 * a writer racing us in that instant is replaced.  0 or -errno. */
static int place_new(int dfd, const char *tmp, const char *name)
{
	if (platform_rename_noreplace(dfd, tmp, dfd, name) == 0)
		return 0;
	int e = errno;
	if (e != ENOSYS && e != EINVAL && e != EOPNOTSUPP && e != EPERM)
		return -e;
	if (linkat(dfd, tmp, dfd, name, 0) == 0) {
		(void)unlinkat(dfd, tmp, 0);
		return 0;
	}
	e = errno;
	if (e != EPERM && e != EOPNOTSUPP && e != EMLINK && e != ENOSYS)
		return -e;
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	return renameat(dfd, tmp, dfd, name) < 0 ? -errno : 0;
}

int apply_place(struct apply_file *f)
{
	int r = 0;
	if (f->expect_set && !f->expect_exists) {
		/* Nothing was there when we planned: never replace what
		 * appeared since. */
		r = place_new(f->dirfd, f->tmp, f->name);
		if (r < 0)
			goto out;
	} else {
		if (f->expect_set) {
			struct stat now;
			struct apply_stat a;
			if (fstatat(f->dirfd, f->name, &now, AT_SYMLINK_NOFOLLOW) < 0) {
				r = errno == ENOENT ? -ESTALE : -errno;
				goto out;
			}
			apply_stat_from(&a, &now);
			if (!apply_stat_same(&a, &f->expect)) {
				r = -ESTALE;
				goto out;
			}
		}
		if (renameat(f->dirfd, f->tmp, f->dirfd, f->name) < 0) {
			r = -errno;
			goto out;
		}
	}
	free(f->tmp);
	f->tmp = NULL;
out:
	apply_abort(f);
	return r;
}

int apply_commit(struct apply_file *f, const uint8_t hash[INDEX_HASH_LEN], mode_t mode,
		 uint64_t mtime_ns, bool do_fsync, struct apply_stat *placed)
{
	int r = apply_prepare(f, hash, mode, mtime_ns, do_fsync, placed);
	return r < 0 ? r : apply_place(f);
}

int apply_symlink(int rootfd, const char *path, const char *target)
{
	const char *name;
	int dfd = open_parent(rootfd, path, &name), r = 0;
	if (dfd < 0)
		return dfd;
	char *tmp = xasprintf("%s%ld.%u", APPLY_TMP_PREFIX, (long)getpid(), tmp_counter++);
	if (symlinkat(target, dfd, tmp) < 0)
		r = -errno;
	else if (renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		unlinkat(dfd, tmp, 0);
	}
	free(tmp);
	close(dfd);
	return r;
}

int apply_remove(int rootfd, const char *path, bool is_dir, const struct apply_stat *expect)
{
	const char *name;
	int dfd = open_parent(rootfd, path, &name), r = 0;
	if (dfd < 0)
		return dfd;
	if (expect) {
		struct stat now;
		struct apply_stat a;
		if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			goto out;
		}
		apply_stat_from(&a, &now);
		if (!apply_stat_same(&a, expect)) {
			r = -ESTALE;
			goto out;
		}
	}
	if (unlinkat(dfd, name, is_dir ? AT_REMOVEDIR : 0) < 0)
		r = -errno;
out:
	close(dfd);
	return r;
}

/* Has pid ended without being reaped yet (state Z in /proc/PID/stat)? */
static bool is_zombie(pid_t pid)
{
	char path[64], b[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return false;
	/* The fuzzed parser: the name may hold anything, ')' included. */
	struct mp_pstat st;
	return mp_pid_stat(b, (size_t)n, &st) == 0 && st.state == 'Z';
}

int apply_sweep(int rootfd, const char *dir)
{
	int dfd = dir[0] ? open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0)
			 : fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return dfd < -1 ? dfd : -errno;
	int keep = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fdopendir(dfd);
	int n = 0;
	struct dirent *de;
	if (d == NULL) {
		close(dfd);
		if (keep >= 0)
			close(keep);
		return -errno;
	}
	size_t pl = strlen(APPLY_TMP_PREFIX);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, APPLY_TMP_PREFIX, pl) != 0)
			continue;
		/* Exactly PREFIX<pid>.<n>, as apply_begin names them. */
		char *end, *end2;
		long pid = strtol(de->d_name + pl, &end, 10);
		if (end == de->d_name + pl || *end != '.' || pid <= 0 || end[1] < '0' || end[1] > '9')
			continue;
		(void)strtoul(end + 1, &end2, 10);
		if (*end2 != '\0')
			continue;
		struct stat st;
		if (fstatat(keep, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (st.st_mode & 07777) != 0600 || st.st_uid != geteuid())
			continue;
		/* Its writer still runs (or is another user's): leave it.  A
		 * zombie (killed, not yet reaped) writes nothing more. */
		if ((kill((pid_t)pid, 0) == 0 || errno == EPERM) && !is_zombie((pid_t)pid))
			continue;
		if (unlinkat(keep, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	close(keep);
	return n;
}

int apply_lstat(int rootfd, const char *path, struct stat *st)
{
	const char *name;
	int dfd = open_parent(rootfd, path, &name), r = 0;
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	close(dfd);
	return r;
}

int apply_hash(int rootfd, const char *path, const struct stat *st, uint8_t out[INDEX_HASH_LEN])
{
	const char *name;
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_REL_MAX + 1];
		int dfd = open_parent(rootfd, path, &name);
		if (dfd < 0)
			return dfd;
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		close(dfd);
		if (n < 0)
			return -errno;
		hash_bytes(target, (size_t)n, out);
		return 0;
	}
	if (!S_ISREG(st->st_mode)) {
		memset(out, 0, INDEX_HASH_LEN);
		return 0;
	}
	return apply_hash_file(rootfd, path, out);
}

int apply_hash_file(int rootfd, const char *path, uint8_t out[INDEX_HASH_LEN])
{
	int fd = open_beneath(rootfd, path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	int r = hash_fd(fd, out);
	close(fd);
	return r;
}

char *apply_readlink(int rootfd, const char *path)
{
	const char *name;
	char target[PATH_REL_MAX + 1];
	int dfd = open_parent(rootfd, path, &name);
	if (dfd < 0) {
		errno = -dfd;
		return NULL;
	}
	ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
	int e = errno;
	close(dfd);
	if (n < 0 || (size_t)n >= sizeof(target) - 1) {
		errno = n < 0 ? e : ENAMETOOLONG;
		return NULL;
	}
	return xstrndup(target, (size_t)n);
}
