/*
 * sync-git.h - git's answer to "is this file tracked?", for the push set.
 *
 * Git's rule is that a tracked file is never ignored: `git add -f
 * data/prepare.py` with "data/" in .gitignore still commits it.  ferry
 * keeps its own .gitignore reader for the walk (sync-ignore.c) and asks
 * git only for the tracked list (`git ls-files -z --cached`, run in the
 * project root), never reading git's index format itself.  The list is
 * cached in .ferry/git-tracked, keyed on the stat of git's index file:
 * git rewrites that file (a new inode) whenever the tracked set changes,
 * so while its stat is the same the list is, and git is not run.
 *
 * Outside a git work tree, or with no git binary, the list is empty and
 * the rules are .gitignore's alone.
 */
#ifndef FERRY_SYNC_GIT_H
#define FERRY_SYNC_GIT_H

#include <stdbool.h>
#include <stddef.h>

/* The tracked paths below the project root, relative to it, sorted by
 * bytes.  A zeroed struct is an empty list. */
struct git_tracked {
	char *blob;		/* the paths, each ending in NUL, sorted */
	size_t len;
	size_t n;		/* paths, when set from memory (0 when mapped) */
	bool mapped;		/* blob lies in map, the cache file mapped */
	char *map;
	size_t map_len;
};

/* Fills t for the project at root (absolute).  cache_file (NULL: none)
 * is read when it matches the index's stat, and rewritten when git had
 * to run.  Never fails: a git that cannot run, or output over
 * GIT_TRACKED_MAX, leaves the list empty. */
void git_tracked_load(struct git_tracked *t, const char *root, const char *cache_file);
void git_tracked_release(struct git_tracked *t);

/* Whether git tracks path; whether it tracks something below the folder
 * dir ("a/b", no trailing '/').  O(log n). */
bool git_tracked_has(const struct git_tracked *t, const char *path);
bool git_tracked_below(const struct git_tracked *t, const char *dir);

/* From a NUL-separated list (blob, len bytes, taken over; a last name
 * without its NUL is cut off): sorted when it is not (git's output is). */
void git_tracked_set(struct git_tracked *t, char *blob, size_t len);

#endif
