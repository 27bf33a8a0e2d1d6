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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "spawn.h"
#include "util.h"

#define CACHE_MAGIC "ferry-git-tracked 1"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void git_tracked_set(struct git_tracked *t, char *blob, size_t len)
{
	size_t n = 0;
	bool sorted = true;

	git_tracked_release(t);
	t->blob = blob;
	t->len = len;
	for (size_t i = 0; i < len; i++)
		n += blob[i] == '\0';
	t->v = xcalloc(n + 1, sizeof(*t->v));
	for (size_t i = 0; i < len; ) {
		const char *s = blob + i;
		size_t l = strnlen(s, len - i);
		if (i + l == len)
			break;	/* not NUL-terminated: cut off */
		if (l > 0) {
			if (t->n && strcmp(t->v[t->n - 1], s) >= 0)
				sorted = false;
			t->v[t->n++] = s;
		}
		i += l + 1;
	}
	if (!sorted)
		qsort(t->v, t->n, sizeof(*t->v), cmp_str);
}

void git_tracked_release(struct git_tracked *t)
{
	if (t == NULL)
		return;
	free(t->blob);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* The first entry not below s. */
static size_t lower_bound(const struct git_tracked *t, const char *s)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(t->v[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool git_tracked_has(const struct git_tracked *t, const char *path)
{
	size_t i = t->n ? lower_bound(t, path) : 0;
	return i < t->n && strcmp(t->v[i], path) == 0;
}

bool git_tracked_below(const struct git_tracked *t, const char *dir)
{
	size_t dl = strlen(dir);
	if (t->n == 0)
		return false;
	if (dl == 0)
		return true;
	/* "dir/" sorts after "dir" and "dir-x" ('-' < '/'), and every path
	 * below dir sorts at or after it, before "dir0". */
	char *key = xasprintf("%s/", dir);
	size_t i = lower_bound(t, key);
	bool r = i < t->n && strncmp(t->v[i], key, dl + 1) == 0;
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

void git_tracked_load(struct git_tracked *t, const char *root, const char *cache_file)
{
	char *index = find_index(root), *key = NULL, *text = NULL;
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
	size_t kl = strlen(key);
	if (cache_file && read_file(cache_file, GIT_TRACKED_MAX + kl, &text, &len) == 0 && len >= kl &&
	    memcmp(text, key, kl) == 0) {
		char *blob = xmalloc(len - kl + 1);
		memcpy(blob, text + kl, len - kl);
		git_tracked_set(t, blob, len - kl);
		goto out;
	}
	char *blob = run_git(root, &len);
	if (blob == NULL)
		goto out;
	if (cache_file) {
		char *c = xmalloc(kl + len);
		memcpy(c, key, kl);
		memcpy(c + kl, blob, len);
		(void)write_cache_atomic(cache_file, c, kl + len, 0600);
		free(c);
	}
	git_tracked_set(t, blob, len);
out:
	free(text);
	free(key);
	free(index);
}
