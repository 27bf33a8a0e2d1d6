/*
 * fsx.c - path validation, private directories, atomic writes.
 *
 * Never follows a symlink when deciding a state directory is safe: lstat,
 * then the owner and mode of the thing itself.
 */
#define _GNU_SOURCE
#include "fsx.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <time.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"
#include "names.h"
#include "platform.h"
#include "util.h"

#include "banned.h"

int path_check_rel(const char *p, size_t len)
{
	if (len == 0 || len > PATH_REL_MAX || memchr(p, '\0', len) != NULL)
		return -EINVAL;
	/* "a/": a trailing slash is refused, a peer's or a file's: it names
	 * what "a" does on some calls and not on others.  Paths a user
	 * typed are normalised before they get here. */
	if (p[0] == '/' || p[len - 1] == '/')
		return -EINVAL;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 0)
			return -EINVAL;		/* "a//b" */
		if (n > PATH_NAME_MAX)
			return -EINVAL;
		if ((n == 1 && p[i] == '.') || (n == 2 && p[i] == '.' && p[i + 1] == '.'))
			return -EINVAL;
		i = j + 1;
	}
	return 0;
}

static mode_t umask_value;
static bool umask_known;

void fsx_umask_init(void)
{
	if (umask_known)
		return;
	if (platform_umask_read(&umask_value) < 0) {
		/* Still one thread here (main's first steps). */
		umask_value = umask(077);
		umask(umask_value);
	}
	umask_known = true;
}

mode_t fsx_umask(void)
{
	if (!umask_known) {
		/* Without fsx_umask_init (unit tests, fuzzers): read only,
		 * never the set-and-restore another thread could see, and the
		 * strictest usual mask when it cannot be read. */
		if (platform_umask_read(&umask_value) < 0)
			umask_value = 077;
		umask_known = true;
	}
	return umask_value;
}

mode_t sync_mode_here(uint32_t sent)
{
	return (mode_t)(sent & 0777) & ~fsx_umask();
}

/* May another user change what is in the folder st describes?  A
 * folder above the project may be root's; a sticky folder (like /tmp)
 * lets others add names but not rename or remove ours. */
static const char *others_can_write(const struct stat *st, bool is_root)
{
	if (st->st_uid != geteuid() && (is_root || st->st_uid != 0))
		return "belongs to another user";
	if ((st->st_mode & 022) && (is_root || !(st->st_mode & S_ISVTX)))
		return st->st_mode & 002 ? "is writable by every user" : "is writable by its group";
	return NULL;
}

int project_open(const char *root, int *fd, char **why)
{
	*fd = -1;
	*why = NULL;
	char *real = realpath(root, NULL);
	if (real == NULL)
		return -errno;
	int cur = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	if (cur < 0) {
		r = -errno;
		free(real);
		return r;
	}
	/* cur is the folder real[0..at) names ("/" for at 0 or 1). */
	size_t at = 0, len = strlen(real);
	for (;;) {
		while (at < len && real[at] == '/')
			at++;
		bool last = at >= len;
		struct stat st;
		if (fstat(cur, &st) < 0) {
			r = -errno;
			break;
		}
		const char *w = *why ? NULL : others_can_write(&st, last);
		if (w) {
			size_t n = at > 1 ? at - 1 : 1;
			*why = last ? xasprintf("'%s' %s", real, w) : xasprintf("'%.*s' %s", (int)n, real, w);
		}
		if (last)
			break;
		size_t end = at;
		while (end < len && real[end] != '/')
			end++;
		char *comp = xstrndup(real + at, end - at);
		int n = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		free(comp);
		if (n < 0) {
			r = -errno;
			break;
		}
		close(cur);
		cur = n;
		at = end;
	}
	if (r < 0) {
		close(cur);
		free(*why);
		*why = NULL;
	} else {
		*fd = cur;
		r = *why ? 1 : 0;
	}
	free(real);
	return r;
}

char *user_home(void)
{
	const char *h = getenv("HOME");
	if (h != NULL && h[0] == '/')
		return xstrdup(h);
	/* No usable HOME (a cron job, `env -u HOME`, some batch systems):
	 * the password database's home, if it is a folder at all ("/" and
	 * "/nonexistent" homes of system users are not). */
	struct user_ent u;
	struct stat st;
	if (names_user(getuid(), &u) == 0 && u.home[0] == '/' && strcmp(u.home, "/") != 0 &&
	    stat(u.home, &st) == 0 && S_ISDIR(st.st_mode))
		return xstrdup(u.home);
	return xstrdup("/");
}

char *state_home(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/ferry", xdg);
	char *home = user_home();
	/* No home at all (no password entry): the folder jobs had before
	 * there was one answer for everyone. */
	char *d = strcmp(home, "/") == 0 ? xasprintf("/tmp/ferry-%u", (unsigned)getuid())
					 : xasprintf("%s/.local/state/ferry", home);
	free(home);
	return d;
}

int mkdir_p(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir);
	int r = 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				r = -errno;
				break;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	if (r == 0) {
		struct stat st;
		if (stat(dir, &st) < 0)
			r = -errno;
		else if (!S_ISDIR(st.st_mode))
			r = -ENOTDIR;
	}
	return r;
}

int dir_private(const char *dir, const char **why)
{
	struct stat st;
	*why = NULL;
	int r = mkdir_p(dir, 0700);
	if (r < 0 && r != -ENOTDIR)
		return r;
	/* Checked through what was opened, never a path looked up twice:
	 * the folder itself, not what a symlink of that name points at. */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP || r == -ENOTDIR) {
			*why = lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) ? "is a symbolic link" : "is not a directory";
			return -EPERM;
		}
		return r;
	}
	r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_uid != geteuid()) {
		*why = "is owned by another user";
		r = -EPERM;
	} else if ((st.st_mode & 077) && fchmod(fd, 0700) < 0) {
		/* Ours and merely too open (an old umask): tightened above. */
		*why = "is accessible to other users";
		r = -EPERM;
	}
	close(fd);
	return r;
}

int read_fd_all(int fd, size_t size_hint, size_t max, char **out, size_t *len)
{
	/* Sized by the file (a /proc file says 0), grown as it reads: room
	 * for one byte past max (that says "too big") and the NUL.  Never
	 * max up front: the index's log may be 2 GiB at most, and is KBs. */
	size_t cap = size_hint < max ? size_hint : max, n = 0;
	if (cap < 4096)
		cap = max < 4096 ? max : 4096;
	cap += 2;
	char *data = xmalloc(cap);
	for (;;) {
		if (n == cap - 1) {
			cap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
			data = xrealloc(data, cap);
		}
		ssize_t got = read(fd, data + n, cap - 1 - n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			free(data);
			return r;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			free(data);
			return -EFBIG;
		}
	}
	data[n] = '\0';
	*out = data;
	*len = n;
	return 0;
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	int r;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else
		r = read_fd_all(fd, (size_t)st.st_size, max, out, len);
	close(fd);
	return r;
}

/* data as path's whole content, in one piece (the two below). */
static int write_whole(const char *path, const void *data, size_t len, mode_t mode, int excl, bool durable)
{
	if (excl && access(path, F_OK) == 0)
		return -EEXIST;
	struct atomic_out o;
	int r = atomic_out_open(&o, path, mode);
	if (r < 0)
		return r;
	atomic_out_write(&o, data, len);
	return excl ? atomic_out_link(&o) : atomic_out_commit(&o, durable);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int excl)
{
	return write_whole(path, data, len, mode, excl, true);
}

int write_cache_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_whole(path, data, len, mode, 0, false);
}

int atomic_out_open(struct atomic_out *o, const char *path, mode_t mode)
{
	o->path = path;
	o->tmp = xasprintf("%s.ferry-tmp.%ld", path, (long)getpid());
	o->err = 0;
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (o->fd < 0) {
		int r = -errno;
		free(o->tmp);
		o->tmp = NULL;
		return r;
	}
	return 0;
}

void atomic_out_write(struct atomic_out *o, const void *data, size_t len)
{
	if (o->err == 0)
		o->err = write_all(o->fd, data, len);
}

/* Closes the temp file (after an fsync when durable): 0 or -errno. */
static int atomic_out_close(struct atomic_out *o, bool durable)
{
	int r = o->err;
	if (r == 0 && durable && fsync(o->fd) < 0)
		r = -errno;
	if (close(o->fd) < 0 && r == 0)
		r = -errno;
	o->fd = -1;
	return r;
}

static int atomic_out_done(struct atomic_out *o, int r)
{
	if (r < 0)
		unlink(o->tmp);
	free(o->tmp);
	o->tmp = NULL;
	return r;
}

int atomic_out_commit(struct atomic_out *o, bool durable)
{
	int r = atomic_out_close(o, durable);
	if (r == 0 && rename(o->tmp, o->path) < 0)
		r = -errno;
	return atomic_out_done(o, r);
}

int atomic_out_link(struct atomic_out *o)
{
	int r = atomic_out_close(o, true);
	/* link() fails if path appeared meanwhile: no overwrite race. */
	if (r == 0 && link(o->tmp, o->path) < 0)
		r = -errno;
	if (r == 0)
		unlink(o->tmp);
	return atomic_out_done(o, r);
}

void atomic_out_abort(struct atomic_out *o)
{
	if (o->tmp == NULL)
		return;
	close(o->fd);
	o->fd = -1;
	atomic_out_done(o, -1);
}

char *path_absolute(const char *p)
{
	char *joined;
	if (p[0] == '/') {
		joined = xstrdup(p);
	} else {
		char *cwd = getcwd(NULL, 0);
		joined = xasprintf("%s/%s", cwd ? cwd : ".", p);
		free(cwd);
	}
	/* Lexical clean-up: drop "." and empty components, fold "..". */
	size_t n = strlen(joined);
	char *out = xmalloc(n + 2);
	size_t o = 0;
	const char *s = joined;
	while (*s) {
		while (*s == '/')
			s++;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t cl = (size_t)(e - s);
		if (cl == 0 || (cl == 1 && s[0] == '.')) {
			/* skip */
		} else if (cl == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, cl);
			o += cl;
		}
		s = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	return out;
}

/* The portable path: one component at a time, each opened O_NOFOLLOW
 * relative to the previous directory, so no symlink is ever traversed. */
static int open_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
	char *copy = xstrdup(rel);
	size_t n = strlen(copy);
	int dirfd = rootfd, r = -EINVAL;

	if (n > 1 && copy[n - 1] == '/')
		copy[n - 1] = '\0';
	char *comp = copy;
	for (;;) {
		char *slash = strchr(comp, '/');
		if (slash == NULL) {
			r = openat(dirfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			r = r < 0 ? -errno : r;
			break;
		}
		*slash = '\0';
		int next = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			r = errno == ENOTDIR ? -ELOOP : -errno;
			break;
		}
		if (dirfd != rootfd)
			close(dirfd);
		dirfd = next;
		comp = slash + 1;
	}
	if (dirfd != rootfd)
		close(dirfd);
	free(copy);
	return r;
}

int open_walk_for_tests(int rootfd, const char *rel, int flags, mode_t mode)
{
	return open_walk(rootfd, rel, flags, mode);
}

int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
	static int have_openat2 = -1;
	if (path_check_rel(rel, strlen(rel)) < 0)
		return -EINVAL;
	if (have_openat2 != 0) {
		int fd = platform_open_beneath(rootfd, rel, flags, mode);
		if (fd >= 0) {
			have_openat2 = 1;
			return fd;
		}
		if (fd != -ENOSYS && fd != -EPERM) {
			/* EPERM: seccomp filters (containers) may refuse openat2. */
			have_openat2 = 1;
			return fd;
		}
		have_openat2 = 0;
	}
	return open_walk(rootfd, rel, flags, mode);
}

int lock_file_wait(const char *path, unsigned ms)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	uint64_t until = now_mono_ns() + (uint64_t)ms * 1000000u;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e != EWOULDBLOCK || now_mono_ns() > until) {
			close(fd);
			return -e;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return fd;
}
