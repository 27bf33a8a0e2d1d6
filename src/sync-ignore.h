/*
 * sync-ignore.h - which paths a sync leaves alone: .gitignore rules with
 * git's semantics (gitignore(5)), plus extra rules from the project file.
 *
 * Paths are relative to the project root, '/'-separated, bytes (not
 * necessarily UTF-8), with no leading "./" or "/"; "" is the root, which is
 * never ignored.  Matching is byte-wise and case-sensitive.
 *
 * Precedence, lowest to highest; within one level the last matching rule
 * decides:
 *   1. the root .gitignore (dir ""),
 *   2. project-file rules (ignore_add_pattern), in the order added: they sit
 *      on the root level but are checked after the root .gitignore, so a
 *      project-file "*.log" beats "!keep.log" in the root .gitignore,
 *   3. each deeper .gitignore over every shallower one ("a/b/" over "a/").
 * The order holds whatever order the texts were added in.
 *
 * Syntax, per line: blank lines and lines starting with '#' are skipped; a
 * trailing "\r" and unescaped trailing spaces are dropped ("\ " keeps one);
 * "!" negates, "\!" and "\#" are literal; a trailing '/' matches
 * directories only; a '/' at the start or in the middle anchors the pattern
 * to the .gitignore's directory, otherwise it matches the last component at
 * any depth below it.  '*' and '?' never match '/'; "[...]" with ranges,
 * '!' or '^' negation and [:alnum:] alpha blank cntrl digit graph lower
 * print punct space upper xdigit (ASCII); '\' escapes.  A "**" segment:
 * "**" + "/x" in all directories, "x/" + "**" everything inside x (not x),
 * "a/" + "**" + "/b" zero or more directories; other star runs act as '*'.
 * As in git, a pattern with an unclosed '[', an unknown [:class:] or a
 * trailing lone '\' never matches (it is dropped when parsed), and a line
 * holding a NUL byte is dropped.  One known difference: git strips a
 * pattern's literal head before matching, so in git "foo**" + "/bar" acts
 * like "foo" + "**" + "/bar" (matching "foobar"); here that "**" is a '*', as
 * gitignore(5) says.
 *
 * Work is bounded: the limits below cap memory, and matching one path
 * against one rule is O(pattern length * path length) in the worst case,
 * with no exponential backtracking ("*a*a*a*b" against "aaaa...").
 */
#ifndef FERRY_SYNC_IGNORE_H
#define FERRY_SYNC_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "limits.h"


struct ignore_prog;
struct ignore_src;

/* One parsed rule.  The strings live as long as the rule: until it is
 * popped or the set released.  Read-only for callers. */
struct ignore_rule {
	const char *pattern;	/* the line as written, trailing spaces dropped */
	const char *source;	/* "src/.gitignore", "ferry.ini" */
	const char *dir;	/* its directory: "" (root) or "src/" */
	int line;		/* 1-based line in source */
	bool negated;		/* "!": a match means "not ignored" */
	bool dir_only;		/* trailing '/' */
	bool anchored;		/* matches the path below dir, not a basename */
	/* Private to sync-ignore.c. */
	size_t seq;
	unsigned depth;
	bool project;
	struct ignore_src *src;
	struct ignore_prog *prog;
};

/* A set of rules, kept in precedence order.  A zeroed struct is an empty
 * set; const functions may be called from several threads at once. */
struct ignore {
	struct ignore_rule **rules;	/* lowest precedence first */
	size_t n, cap;
	size_t seq;			/* serial number of the next rule */
};

void ignore_init(struct ignore *ig);
/* Frees every rule; ig may be NULL or zeroed, and is empty afterwards. */
void ignore_release(struct ignore *ig);

/*
 * Parses the text of the .gitignore in directory dir ("" for the root,
 * "src" or "src/" below it), naming it source in rule reports.  text need
 * not be NUL-terminated; a UTF-8 byte order mark is skipped.  Returns 0;
 * -EFBIG (text over IGNORE_FILE_MAX), -ENAMETOOLONG (a line over
 * IGNORE_PATTERN_MAX or dir over PATH_REL_MAX), -E2BIG (over
 * IGNORE_RULES_MAX or IGNORE_TOTAL_MAX rules), -EINVAL (dir starts with
 * '/').  On error nothing from this text is kept.
 */
int ignore_add_text(struct ignore *ig, const char *dir, const char *source,
		    const char *text, size_t len);

/* One project-file rule (the syntax of one .gitignore line; a blank or '#'
 * line adds nothing) at the project-file level described above.  0,
 * -ENAMETOOLONG, -E2BIG, or -EINVAL for a pattern holding a newline. */
int ignore_add_pattern(struct ignore *ig, const char *pattern,
		       const char *source, int line);

/*
 * The decision for path by itself, as git makes it for one directory entry
 * whose parents are already known not to be ignored: the rules whose dir
 * is a proper prefix of path, highest precedence first.  Returns 1 when
 * ignored, 0 when not; *why (if why is not NULL) is the deciding rule, a
 * negated one when it re-includes, or NULL when no rule matched.  A path
 * ending in '/' is a directory whatever is_dir says.  Cost: the rules of
 * the ancestors of path, each at most O(pattern * path).
 */
int ignore_match(const struct ignore *ig, const char *path, bool is_dir,
		 const struct ignore_rule **why);

/* The full decision, with git's rule that nothing inside an ignored
 * directory can be re-included: each parent directory of path is checked
 * first, shallowest first, and the first one ignored decides (*why is its
 * rule).  Costs up to (depth + 1) ignore_match calls. */
int ignore_path(const struct ignore *ig, const char *path, bool is_dir,
		const struct ignore_rule **why);

/* A stack for a walker: the mark before adding a directory's .gitignore,
 * and a pop back to it when leaving the directory, which frees every rule
 * added since the mark (and invalidates their *why pointers). */
size_t ignore_mark(const struct ignore *ig);
void ignore_pop(struct ignore *ig, size_t mark);

#endif
