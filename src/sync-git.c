/*
 * sync-git.c - git's tracked list, cached on the stat of its index
 * (sync-git.h).
 *
 * Invariant: the list is what `git ls-files -z --cached` printed for an
 * index file with exactly the recorded dev, inode, size, mtime and ctime.
 * Git writes its index to a lock file and renames it into place, so any
 * change to the tracked set gives the index a new inode and ctime; an
 * equal stat means an equal list.  Never parses git's index format.
 */
#define _GNU_SOURCE
#include "sync-git.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

#define CACHE_MAGIC "ferry-git-tracked 1"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void git_tracked_set(struct git_tracked *t, char *blob, size_t len)
{
	size_t n = 0, k = 0;
	bool sorted = true;
	const char *prev = NULL;

	git_tracked_release(t);
	/* A last name without its NUL is cut off. */
	while (len > 0 && blob[len - 1] != '\0')
		len--;
	for (size_t i = 0; i < len; i += strlen(blob + i) + 1) {
		if (blob[i] == '\0')
			continue;
		sorted &= prev == NULL || strcmp(prev, blob + i) < 0;
		prev = blob + i;
		n++;
	}
	t->n = n;
	if (sorted) {
		/* Git's own order (its index is sorted by bytes): kept as it
		 * is, empty names and all. */
		t->blob = blob;
		t->len = len;
		return;
	}
	const char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < len; i += strlen(blob + i) + 1)
		if (blob[i] != '\0')
			v[k++] = blob + i;
	qsort(v, n, sizeof(*v), cmp_str);
	t->blob = xmalloc(len + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;
		memcpy(t->blob + t->len, v[i], l);
		t->len += l;
	}
	free(v);
	free(blob);
}

void git_tracked_release(struct git_tracked *t)
{
	if (t == NULL)
		return;
	if (t->mapped)
		munmap(t->map, t->map_len);
	else
		free(t->blob);
	memset(t, 0, sizeof(*t));
}

/* The byte offset of the first name not below s: a binary search over
 * the sorted, NUL-separated names themselves (no array of pointers to
 * build: a lookup touches a few pages of a mapped cache, and a no-op
 * push looks up only the paths a .gitignore rule ignores). */
static size_t lower_bound(const struct git_tracked *t, const char *s)
{
	const char *b = t->blob;
	size_t lo = 0, hi = t->len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		while (mid > lo && b[mid - 1] != '\0')
			mid--;
		if (strcmp(b + mid, s) < 0)
			lo = mid + strlen(b + mid) + 1;
		else
			hi = mid;
	}
	return lo;
}

bool git_tracked_has(const struct git_tracked *t, const char *path)
{
	if (t->len == 0)
		return false;
	size_t i = lower_bound(t, path);
	return i < t->len && strcmp(t->blob + i, path) == 0;
}

bool git_tracked_below(const struct git_tracked *t, const char *dir)
{
	size_t dl = strlen(dir);
	if (t->len == 0)
		return false;
	if (dl == 0)
		return true;
	/* "dir/" sorts after "dir" and "dir-x" ('-' < '/'), and every path
	 * below dir sorts at or after it, before "dir0". */
	char *key = xasprintf("%s/", dir);
	size_t i = lower_bound(t, key);
	bool r = i < t->len && strncmp(t->blob + i, key, dl + 1) == 0;
	free(key);
	return r;
}

/* The index file of the git work tree holding root: ".git" in root or a
 * folder above it, a folder or a "gitdir: PATH" file (a worktree, a
 * submodule).  NULL when there is none. */
static char *find_index(const char *root)
{
	char *dir = xstrdup(root), *res = NULL;
	for (int depth = 0; depth < CONFIG_DIR_DEPTH_MAX && res == NULL; depth++) {
		char *dotgit = xasprintf("%s%s.git", dir, strcmp(dir, "/") == 0 ? "" : "/");
		struct stat st;
		if (lstat(dotgit, &st) == 0 && S_ISDIR(st.st_mode)) {
			res = xasprintf("%s/index", dotgit);
		} else if (lstat(dotgit, &st) == 0 && S_ISREG(st.st_mode)) {
			char *text = NULL;
			size_t len;
			if (read_file(dotgit, PATH_MAX_ABS + 16, &text, &len) == 0 &&
			    strncmp(text, "gitdir: ", 8) == 0) {
				char *g = text + 8;
				g[strcspn(g, "\r\n")] = '\0';
				if (g[0] == '/')
					res = xasprintf("%s/index", g);
				else if (g[0])
					res = xasprintf("%s/%s/index", dir, g);
			}
			free(text);
		}
		free(dotgit);
		if (res || strcmp(dir, "/") == 0)
			break;
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	free(dir);
	return res;
}

static char *stat_key(const struct stat *st)
{
	return xasprintf(CACHE_MAGIC " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 ".%09ld %" PRIu64 ".%09ld\n",
			 (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
			 (uint64_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
			 st->st_ctim.tv_nsec);
}

/* git ls-files' output, or NULL when git cannot run, fails or says too
 * much. */
static char *run_git(const char *root, size_t *len)
{
	char *const argv[] = { "git", "ls-files", "-z", "--cached", NULL };
	struct spawn_opts so = { .in = SPAWN_NULL, .out = SPAWN_PIPE, .err = SPAWN_NULL, .cwd = root };
	struct child c;
	size_t n = 0, cap = 64 * 1024;
	char *out;
	int status = 0;
	bool over = false;

	if (spawn(argv, &so, &c) < 0)
		return NULL;
	out = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= GIT_TRACKED_MAX) {
				over = true;
				break;
			}
			cap *= 2;
			out = xrealloc(out, cap);
		}
		ssize_t r = read(c.out, out + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (over)
		kill(c.pid, SIGTERM);
	child_close(&c);
	if (wait_child(c.pid, &status) < 0 || over || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return NULL;
	}
	*len = n;
	return out;
}

/* The cache's names, mapped, when its first line is key. */
static bool map_cache(struct git_tracked *t, const char *file, const char *key)
{
	size_t kl = strlen(key);
	struct stat st;
	bool ok = false;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= kl &&
	    (uint64_t)st.st_size <= GIT_TRACKED_MAX + kl) {
		size_t len = (size_t)st.st_size;
		char *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED && memcmp(m, key, kl) == 0 && (len == kl || m[len - 1] == '\0')) {
			t->mapped = true;
			t->map = m;
			t->map_len = len;
			t->blob = m + kl;
			t->len = len - kl;
			ok = true;
		} else if (m != MAP_FAILED) {
			munmap(m, len);
		}
	}
	close(fd);
	return ok;
}

void git_tracked_load(struct git_tracked *t, const char *root, const char *cache_file)
{
	char *index = find_index(root), *key = NULL;
	struct stat st;
	size_t len;

	memset(t, 0, sizeof(*t));
	if (index == NULL)
		goto out;
	if (stat(index, &st) < 0) {
		/* A fresh repository has no index yet: nothing is tracked. */
		goto out;
	}
	key = stat_key(&st);
	if (cache_file && map_cache(t, cache_file, key))
		goto out;
	char *blob = run_git(root, &len);
	if (blob == NULL)
		goto out;
	git_tracked_set(t, blob, len);
	if (cache_file) {
		/* Written sorted: the next load maps it and searches it as it is. */
		size_t kl = strlen(key);
		char *c = xmalloc(kl + t->len + 1);
		memcpy(c, key, kl);
		memcpy(c + kl, t->blob, t->len);
		(void)write_cache_atomic(cache_file, c, kl + t->len, 0600);
		free(c);
	}
out:
	free(key);
	free(index);
}
