/*
 * sync-scan.h - the push set: which files of the project a push sends.
 *
 * The push set is every entry under the push folders (ferry.ini sync.push,
 * default the whole project), minus the pull folders (sync.pull, default
 * "results"), minus what the .gitignore files and sync.ignore exclude,
 * minus ".git" directories at any depth and ferry's own state (".ferry"
 * at the root), which no rule can bring back.  In a git work tree a file
 * git tracks is never ignored by a .gitignore (git's own rule), only by
 * sync.ignore.  Symlinks are entries of their own and are never followed.
 *
 * A pull scans its folders with none of the .gitignore files: pull
 * folders are results, taken whole minus the project file's pull_ignore.
 */
#ifndef FERRY_SYNC_SCAN_H
#define FERRY_SYNC_SCAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "sync-git.h"
#include "sync-ignore.h"

#define FERRY_STATE_DIR ".ferry"

enum entry_type { ENT_FILE, ENT_DIR, ENT_LINK, ENT_OTHER };

struct scan_entry {
	const char *path;	/* relative to the root; valid during the callback */
	enum entry_type type;
	mode_t mode;
	uint64_t size, mtime_ns, ino, dev;
};

/* Called for every entry kept, in byte order of names, directories before
 * their contents.  Non-zero stops the walk (returned by scan_push_set). */
typedef int (*scan_fn)(const struct scan_entry *e, void *arg);

struct scan_stats {
	uint64_t files, dirs, links, skipped_special, errors;
};

/* What to walk: a root, the folders under it (none = all), folders never
 * entered, the project file's ignore patterns.  .gitignore files found
 * on the way apply as in git. */
struct scan_spec {
	const char *root;
	char *const *folders;
	size_t nfolders;
	char *const *skip;
	size_t nskip;
	char *const *ignore;
	size_t nignore;
	int ignore_line;	/* of sync.ignore in ferry.ini, for check-ignore */
	const char *what;	/* "push folder" / "pull folder", for messages */
	bool missing_ok;	/* a listed folder that does not exist is empty */
	/* The folders above a listed one are no entries: a pull, whose other
	 * side writes only inside the folders it asked for. */
	bool no_parents;
	/* Git's tracked files (a push in a git work tree): a tracked path
	 * is never ignored by a .gitignore, only by the project file's
	 * rules; a folder that holds one is walked for those alone.  NULL:
	 * none. */
	const struct git_tracked *tracked;
	/* `push --ignored PATH...`: these paths (and what is below them)
	 * are pushed whatever a rule says; a folder on the way to one is
	 * walked for them alone. */
	char *const *include;
	size_t ninclude;
	/* A pull: the .gitignore files do not apply, only sp->ignore. */
	bool no_gitignore;
	/* Each entry a rule keeps out (not walked below), for a pull's count
	 * of what pull_ignore skipped; may be NULL. */
	void (*excluded)(void *arg, const char *path, bool is_dir);
	void *excluded_arg;
	/* Warnings go here instead of stderr when set (is_error: counted). */
	void (*warn)(void *arg, bool is_error, const char *msg);
	void *warn_arg;
};

/* The push set's spec: push folders, minus the pull folders. */
void scan_spec_push(struct scan_spec *sp, const struct config *cfg);
/* Walks what sp describes; as scan_push_set. */
int scan_tree(const struct scan_spec *sp, scan_fn fn, void *arg, struct scan_stats *st, char **err);

/* Walks the push set of the project described by cfg (cfg->root must be
 * set).  Problems with single entries (unreadable directory, a FIFO)
 * are warned about on stderr and counted; 0, the callback's non-zero
 * value, or -1 with *err (caller frees) when the walk cannot start. */
int scan_push_set(const struct config *cfg, scan_fn fn, void *arg, struct scan_stats *st, char **err);
/* The same, with paths pushed whatever the rules say (push --ignored),
 * and the warnings to warn(warn_arg, ...) instead of stderr (NULL:
 * stderr). */
int scan_push_set_with(const struct config *cfg, char *const *include, size_t ninclude,
		       void (*warn)(void *arg, bool is_error, const char *msg), void *warn_arg, scan_fn fn, void *arg,
		       struct scan_stats *st, char **err);

/* What decides whether path (relative to the root, no leading "./") is
 * pushed or pulled (check-ignore). */
enum scan_verdict {
	SCAN_PUSHED,		/* in the push set; *why the negated rule, if any */
	SCAN_EXCLUDED,		/* out of the push set: *why says by what */
	SCAN_TRACKED,		/* a .gitignore rule (*why) matches, but git tracks it: pushed */
	SCAN_RESULT,		/* in a pull folder (*why names it): pulled whatever .gitignore says */
	SCAN_PULL_IGNORED,	/* in a pull folder, skipped by pull_ignore (*why) */
};
/* The verdict for path, with *why as "SOURCE:LINE:PATTERN" (caller frees;
 * NULL when no rule is involved).  Loads the .gitignore files on the way
 * to path from disk, and git's tracked list. */
enum scan_verdict scan_explain(const struct config *cfg, const char *path, bool is_dir, char **why);

#endif
