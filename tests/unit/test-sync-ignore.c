#define _GNU_SOURCE
/*
 * test-ignore.c - .gitignore semantics: a table of git's tricky cases, then
 * nesting, precedence, the parent-directory rule, limits and bounded work.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync-git.h"
#include "sync-ignore.h"
#include "t.h"
#include "util.h"



/* One root .gitignore text, one path, the full decision (ignore_path). */
static const struct {
	const char *text;
	const char *path;
	bool dir;
	int want;
} cases[] = {
	{ "*.o", "a.o", false, 1 },
	{ "*.o", "x/y/a.o", false, 1 },
	{ "*.o", "a.oo", false, 0 },
	{ "*.o", "a.o", true, 1 },
	{ "*.O", "a.o", false, 0 },
	{ "/build", "build", false, 1 },
	{ "/build", "build", true, 1 },
	{ "/build", "x/build", true, 0 },
	{ "build/", "build", true, 1 },
	{ "build/", "build", false, 0 },
	{ "build/", "x/build", true, 1 },
	{ "build/", "build/x.c", false, 1 },
	{ "doc/*.txt", "doc/a.txt", false, 1 },
	{ "doc/*.txt", "doc/sub/x.txt", false, 0 },
	{ "doc/*.txt", "x/doc/a.txt", false, 0 },
	{ "/a/b", "a/b", false, 1 },
	{ "/a/b", "x/a/b", false, 0 },
	{ "a/b/", "a/b", true, 1 },
	{ "a/b/", "a/b", false, 0 },
	{ "**/foo", "foo", false, 1 },
	{ "**/foo", "a/foo", false, 1 },
	{ "**/foo", "a/b/foo", true, 1 },
	{ "**/foo", "foo/x", false, 1 },
	{ "**/foo", "afoo", false, 0 },
	{ "**/foo/bar", "foo/bar", false, 1 },
	{ "**/foo/bar", "x/y/foo/bar", false, 1 },
	{ "**/foo/bar", "x/foo/baz", false, 0 },
	{ "foo/**", "foo", true, 0 },
	{ "foo/**", "foo/x", false, 1 },
	{ "foo/**", "foo/x/y", false, 1 },
	{ "foo/**", "bar/foo/x", false, 0 },
	{ "a/**/b", "a/b", false, 1 },
	{ "a/**/b", "a/x/b", false, 1 },
	{ "a/**/b", "a/x/y/b", false, 1 },
	{ "a/**/b", "a/xb", false, 0 },
	{ "a/**/b", "x/a/b", false, 0 },
	{ "a/**/b", "a/x/b/c", false, 1 },
	{ "a/**b", "a/xb", false, 1 },
	{ "a/**b", "a/x/b", false, 0 },
	{ "***/foo", "x/y/foo", false, 1 },
	{ "foo**bar", "fooXbar", false, 1 },
	{ "foo**bar", "foo/bar", false, 0 },
	{ "**", "a/b/c", false, 1 },
	{ "/**", "a", false, 1 },
	{ "**/", "d", true, 1 },
	{ "**/", "f", false, 0 },
	{ "**/", "d/f", false, 1 },
	{ "a/*/b", "a/x/b", false, 1 },
	{ "a/*/b", "a/x/y/b", false, 0 },
	{ "a*b", "aXYZb", false, 1 },
	{ "a*b", "a/xb", false, 0 },
	{ "*", "anything", false, 1 },
	{ "a?c", "abc", false, 1 },
	{ "a?c", "ac", false, 0 },
	{ "?", "\xc3\xa9", false, 0 },
	{ "\xff*", "\xff\xfe", false, 1 },
	{ "*.o\n!important.o", "x.o", false, 1 },
	{ "*.o\n!important.o", "important.o", false, 0 },
	{ "*.o\n!important.o", "sub/important.o", false, 0 },
	{ "!important.o\n*.o", "important.o", false, 1 },
	{ "\\!x", "!x", false, 1 },
	{ "\\!x", "x", false, 0 },
	{ "\\#x", "#x", false, 1 },
	{ "#x", "#x", false, 0 },
	{ " foo", " foo", false, 1 },
	{ " foo", "foo", false, 0 },
	{ "foo   ", "foo", false, 1 },
	{ "foo   ", "foo ", false, 0 },
	{ "foo\\ ", "foo ", false, 1 },
	{ "foo\\ ", "foo", false, 0 },
	{ "foo\\  ", "foo ", false, 1 },
	{ "foo\t", "foo\t", false, 1 },
	{ "[a-c].txt", "b.txt", false, 1 },
	{ "[a-c].txt", "d.txt", false, 0 },
	{ "[c-a]", "b", false, 0 },
	{ "[!a]x", "bx", false, 1 },
	{ "[!a]x", "ax", false, 0 },
	{ "[^a]x", "ax", false, 0 },
	{ "[[:digit:]]*", "1abc", false, 1 },
	{ "[[:digit:]]*", "abc", false, 0 },
	{ "[[:alpha:][:digit:]]", "5", false, 1 },
	{ "[[:alpha:][:digit:]]", "-", false, 0 },
	{ "[[:upper:]]", "A", false, 1 },
	{ "[[:upper:]]", "a", false, 0 },
	{ "[[:lower:]]", "a", false, 1 },
	{ "[[:xdigit:]]", "f", false, 1 },
	{ "[[:xdigit:]]", "g", false, 0 },
	{ "[[:space:]]x", " x", false, 1 },
	{ "[[:punct:]]", "!", false, 1 },
	{ "[[:punct:]]", "a", false, 0 },
	{ "[[:alnum:]]", "_", false, 0 },
	{ "[[:bogus:]]", "b", false, 0 },
	{ "[[:]", "[", false, 1 },
	{ "[[:]", ":", false, 1 },
	{ "[abc", "a", false, 0 },
	{ "[abc", "[abc", false, 0 },
	{ "[]]", "]", false, 1 },
	{ "[!]]", "a", false, 1 },
	{ "[!]]", "]", false, 0 },
	{ "[a-]", "-", false, 1 },
	{ "[\\]]", "]", false, 1 },
	{ "\\*", "*", false, 1 },
	{ "\\*", "a", false, 0 },
	{ "\\?", "?", false, 1 },
	{ "\\?", "a", false, 0 },
	{ "foo\\", "foo", false, 0 },
	{ "foo\\", "foo\\", false, 0 },
	{ "a\\/b", "a/b", false, 1 },
	{ "a/**\\/b", "a/b", false, 0 },
	{ "a/**\\/b", "a/x/b", false, 1 },
	{ "**\\/**", "x.o", false, 0 },
	{ "**\\/**", "a/x.o", false, 1 },
	{ "/", "x", false, 0 },
	{ "!", "!", false, 0 },
	{ "   ", "x", false, 0 },
	{ "*.o\r\n", "a.o", false, 1 },
	{ "\xef\xbb\xbf*.o", "a.o", false, 1 },
	{ "dir/\n!dir/keep", "dir/keep", false, 1 },
	{ "dir/\n!dir/keep", "dir/sub/keep", false, 1 },
	{ "dir/*\n!dir/keep", "dir/keep", false, 0 },
	{ "dir/*\n!dir/keep", "dir/other", false, 1 },
	{ "foo/**\n!foo/keep", "foo/keep", false, 0 },
	{ "x\n\n# c\n!x", "x", false, 0 },
};

static void test_table(void)
{
	char name[128];
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct ignore ig;
		snprintf(name, sizeof(name), "case %zu", i);
		t_case = name;
		ignore_init(&ig);
		CHECK(ignore_add_text(&ig, "", ".gitignore", cases[i].text, strlen(cases[i].text)) == 0);
		int got = ignore_path(&ig, cases[i].path, cases[i].dir, NULL);
		if (got != cases[i].want)
			fprintf(stderr, "  pattern '%s' path '%s'%s: got %d\n", cases[i].text,
				cases[i].path, cases[i].dir ? " (dir)" : "", got);
		CHECK(got == cases[i].want);
		ignore_release(&ig);
	}
}

static void add(struct ignore *ig, const char *dir, const char *text)
{
	char *src = xasprintf("%s%s.gitignore", dir, dir[0] ? "/" : "");
	CHECK(ignore_add_text(ig, dir, src, text, strlen(text)) == 0);
	free(src);
}

static void test_nested(void)
{
	struct ignore ig;
	const struct ignore_rule *why;

	t_case = "anchored in sub/";
	ignore_init(&ig);
	add(&ig, "sub", "/x\n");
	CHECK(ignore_path(&ig, "sub/x", false, NULL) == 1);
	CHECK(ignore_path(&ig, "x", false, NULL) == 0);
	CHECK(ignore_path(&ig, "sub/y/x", false, NULL) == 0);
	CHECK(ignore_path(&ig, "other/x", false, NULL) == 0);
	ignore_release(&ig);

	t_case = "basename in sub/";
	ignore_init(&ig);
	add(&ig, "sub/", "x\n*\n!y\n");
	CHECK(ignore_path(&ig, "sub", true, NULL) == 0);
	CHECK(ignore_path(&ig, "sub/y", false, NULL) == 0);
	CHECK(ignore_path(&ig, "sub/z", false, NULL) == 1);
	CHECK(ignore_path(&ig, "x", false, NULL) == 0);
	CHECK(ignore_path(&ig, "subx", false, NULL) == 0);
	ignore_release(&ig);

	t_case = "deeper overrides shallower";
	ignore_init(&ig);
	add(&ig, "", "*.log\n");
	add(&ig, "sub", "!keep.log\n");
	add(&ig, "sub/deep", "keep.log\n");
	CHECK(ignore_path(&ig, "keep.log", false, NULL) == 1);
	CHECK(ignore_path(&ig, "sub/keep.log", false, &why) == 0);
	CHECK(why != NULL && why->negated);
	CHECK(why != NULL && strcmp(why->source, "sub/.gitignore") == 0 && why->line == 1);
	CHECK(ignore_path(&ig, "sub/x/keep.log", false, NULL) == 0);
	CHECK(ignore_path(&ig, "sub/deep/keep.log", false, &why) == 1);
	CHECK_STR(why ? why->dir : NULL, "sub/deep/");
	CHECK(ignore_path(&ig, "sub/other.log", false, NULL) == 1);
	ignore_release(&ig);

	t_case = "deeper wins whatever the order added";
	ignore_init(&ig);
	add(&ig, "sub", "*.log\n");
	add(&ig, "", "!*.log\n");
	CHECK(ignore_path(&ig, "sub/a.log", false, NULL) == 1);
	CHECK(ignore_path(&ig, "a.log", false, NULL) == 0);
	ignore_release(&ig);

	t_case = "parent excluded by a nested file";
	ignore_init(&ig);
	add(&ig, "a", "b/\n");
	add(&ig, "a/b", "!keep\n");
	CHECK(ignore_path(&ig, "a/b/keep", false, &why) == 1);
	CHECK_STR(why ? why->pattern : NULL, "b/");
	CHECK(ignore_match(&ig, "a/b/keep", false, &why) == 0);
	CHECK_STR(why ? why->pattern : NULL, "!keep");
	ignore_release(&ig);
}

static void test_project(void)
{
	struct ignore ig;
	const struct ignore_rule *why;

	t_case = "project file after root, before deeper";
	ignore_init(&ig);
	CHECK(ignore_add_pattern(&ig, "*.log", "ferry.ini", 7) == 0);
	add(&ig, "", "!keep.log\n");
	add(&ig, "sub", "!keep.log\n");
	CHECK(ignore_path(&ig, "keep.log", false, &why) == 1);
	CHECK_STR(why ? why->source : NULL, "ferry.ini");
	CHECK(why != NULL && why->line == 7);
	CHECK(ignore_path(&ig, "sub/keep.log", false, NULL) == 0);
	CHECK(ignore_path(&ig, "x/keep.log", false, NULL) == 1);
	CHECK(ignore_add_pattern(&ig, "!x/keep.log", "ferry.ini", 8) == 0);
	CHECK(ignore_path(&ig, "x/keep.log", false, NULL) == 0);
	CHECK(ignore_add_pattern(&ig, "# comment", "ferry.ini", 9) == 0);
	CHECK(ignore_add_pattern(&ig, "", "ferry.ini", 10) == 0);
	CHECK(ignore_add_pattern(&ig, "a\nb", "ferry.ini", 11) == -EINVAL);
	CHECK(ig.n == 4);
	ignore_release(&ig);
}

static void test_why_and_stack(void)
{
	static const struct ignore_rule dummy;
	struct ignore ig;
	const struct ignore_rule *why = &dummy;

	t_case = "zeroed set";
	memset(&ig, 0, sizeof(ig));
	CHECK(ignore_match(&ig, "a", false, &why) == 0 && why == NULL);
	CHECK(ignore_path(&ig, "", true, NULL) == 0);
	ignore_release(&ig);
	ignore_release(NULL);

	t_case = "why";
	ignore_init(&ig);
	add(&ig, "", "# build output\n*.o   \n\n!keep.o\n");
	CHECK(ignore_match(&ig, "a.o", false, &why) == 1);
	CHECK_STR(why ? why->pattern : NULL, "*.o");
	CHECK(why != NULL && why->line == 2 && !why->negated && !why->anchored);
	CHECK(ignore_match(&ig, "keep.o", false, &why) == 0);
	CHECK(why != NULL && why->line == 4 && why->negated);
	CHECK(ignore_match(&ig, "a.c", false, &why) == 0 && why == NULL);
	CHECK(ignore_match(&ig, "d.o/", false, &why) == 1);

	t_case = "mark and pop";
	size_t m = ignore_mark(&ig);
	add(&ig, "sub", "/x\n");
	CHECK(ignore_match(&ig, "sub/x", false, NULL) == 1);
	ignore_pop(&ig, m);
	CHECK(ignore_match(&ig, "sub/x", false, NULL) == 0);
	CHECK(ig.n == 2);
	CHECK(ignore_match(&ig, "sub/a.o", false, NULL) == 1);
	ignore_release(&ig);
}

/* The rule check-ignore names is the one that decided, in git's
 * precedence: a parent folder's rule first (nothing inside an ignored
 * folder comes back), then the last matching line, deeper files over
 * shallower ones, negation included (git check-ignore -v agrees). */
static void test_deciding_rule(void)
{
	static const struct {
		const char *root, *subdir, *sub, *path;
		int ignored, line;
		const char *source;
	} rules[] = {
		{ "results/\n*.ckpt\n", NULL, NULL, "results/final.ckpt", 1, 1, ".gitignore" },
		{ "*.ckpt\nresults/\n", NULL, NULL, "results/final.ckpt", 1, 2, ".gitignore" },
		{ "*.ckpt\n!final.ckpt\n", NULL, NULL, "results/final.ckpt", 0, 2, ".gitignore" },
		{ "*.pt\n!best.pt\n*.pt\n", NULL, NULL, "best.pt", 1, 3, ".gitignore" },
		{ "*.ckpt\n", "models", "!*.ckpt\n", "models/a.ckpt", 0, 1, "models/.gitignore" },
		{ "!*.ckpt\n", "models", "*.ckpt\n", "models/a.ckpt", 1, 1, "models/.gitignore" },
		{ "*.ckpt\n", "models", "!*.ckpt\n", "other/a.ckpt", 1, 1, ".gitignore" },
		{ "data/\n!data/keep.py\n", NULL, NULL, "data/keep.py", 1, 1, ".gitignore" },
		{ "outputs/\n", "outputs", "!*\n", "outputs/run/x", 1, 1, ".gitignore" },
	};
	for (size_t i = 0; i < ARRAY_LEN(rules); i++) {
		struct ignore ig;
		const struct ignore_rule *why = NULL;
		t_case = rules[i].path;
		ignore_init(&ig);
		add(&ig, "", rules[i].root);
		if (rules[i].subdir)
			add(&ig, rules[i].subdir, rules[i].sub);
		CHECK(ignore_path(&ig, rules[i].path, false, &why) == rules[i].ignored);
		CHECK(why != NULL && why->line == rules[i].line);
		CHECK_STR(why ? why->source : NULL, rules[i].source);
		ignore_release(&ig);
	}
}

/* Git's tracked list: lookups of a path, and of a folder that holds one
 * ("data-x" sorts between "data" and "data/"). */
static void test_git_tracked(void)
{
	static const char list[] = "src/m.py\0data-x/y\0data/prepare.py\0README\0\0data/raw/a/b.txt\0";
	struct git_tracked t = { 0 };

	t_case = "git tracked";
	CHECK(!git_tracked_has(&t, "a") && !git_tracked_below(&t, "a"));
	char *blob = xmalloc(sizeof(list) - 1);
	memcpy(blob, list, sizeof(list) - 1);
	git_tracked_set(&t, blob, sizeof(list) - 1);
	CHECK(t.n == 5);
	CHECK(git_tracked_has(&t, "data/prepare.py") && git_tracked_has(&t, "README"));
	CHECK(!git_tracked_has(&t, "data") && !git_tracked_has(&t, "data/prepare"));
	CHECK(git_tracked_below(&t, "data") && git_tracked_below(&t, "data/raw") && git_tracked_below(&t, "data/raw/a"));
	CHECK(git_tracked_below(&t, "data-x") && git_tracked_below(&t, "src"));
	CHECK(!git_tracked_below(&t, "dat") && !git_tracked_below(&t, "data/prepare.py") &&
	      !git_tracked_below(&t, "data/raw/a/b.txt") && !git_tracked_below(&t, "zzz"));
	git_tracked_release(&t);
	git_tracked_release(&t);

	t_case = "git tracked, a cut-off last name";
	blob = xmalloc(5);
	memcpy(blob, "a\0bcd", 5);
	git_tracked_set(&t, blob, 5);
	CHECK(t.n == 1 && git_tracked_has(&t, "a") && !git_tracked_has(&t, "bcd"));
	git_tracked_release(&t);
}

static void test_limits(void)
{
	struct ignore ig;
	char *text = xmalloc(IGNORE_FILE_MAX + 2);

	t_case = "pattern length";
	ignore_init(&ig);
	memcpy(text, "*.o\n", 4);
	memset(text + 4, 'a', IGNORE_PATTERN_MAX + 1);
	CHECK(ignore_add_text(&ig, "", "g", text, 4 + IGNORE_PATTERN_MAX + 1) == -ENAMETOOLONG);
	CHECK(ig.n == 0);
	CHECK(ignore_add_text(&ig, "", "g", text, 4 + IGNORE_PATTERN_MAX) == 0);
	CHECK(ig.n == 2);
	ignore_release(&ig);

	t_case = "rules per file";
	ignore_init(&ig);
	size_t n = 0;
	for (int i = 0; i <= IGNORE_RULES_MAX; i++) {
		text[n++] = 'x';
		text[n++] = '\n';
	}
	CHECK(ignore_add_text(&ig, "", "g", text, n) == -E2BIG);
	CHECK(ig.n == 0);
	CHECK(ignore_add_text(&ig, "", "g", text, n - 2) == 0);
	CHECK(ig.n == IGNORE_RULES_MAX);
	ignore_release(&ig);

	t_case = "file size and dir";
	ignore_init(&ig);
	memset(text, '#', IGNORE_FILE_MAX + 1);
	CHECK(ignore_add_text(&ig, "", "g", text, IGNORE_FILE_MAX + 1) == -EFBIG);
	CHECK(ignore_add_text(&ig, "", "g", text, IGNORE_FILE_MAX) == 0);
	CHECK(ignore_add_text(&ig, "/abs", "g", "x", 1) == -EINVAL);
	CHECK(ignore_add_text(&ig, "a\0b", "g", "x\0y\nz", 5) == 0);
	CHECK(ig.n == 1);
	ignore_release(&ig);
	free(text);
}

/* Patterns that make recursive matchers take exponential time. */
static void test_pathological(void)
{
	struct ignore ig;
	char *path = xmalloc(4096);
	uint64_t t0 = now_mono_ns();

	t_case = "many stars";
	ignore_init(&ig);
	add(&ig, "", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"
		 "**/a/**/a/**/a/**/a/**/a/**/a/**/a/**/b\n"
		 "[a]*[a]*[a]*[a]*[a]*[a]*[a]*[a]*[!a]\n");
	memset(path, 'a', 255);
	path[255] = '\0';
	CHECK(ignore_path(&ig, path, false, NULL) == 0);
	for (int i = 0; i < 2000; i++)
		path[i] = i % 2 ? '/' : 'a';
	path[1999] = '\0';
	CHECK(ignore_match(&ig, path, false, NULL) == 0);
	CHECK(ignore_path(&ig, path, false, NULL) == 0);
	path[1998] = 'b';
	CHECK(ignore_match(&ig, path, false, NULL) == 1);
	uint64_t ms = (now_mono_ns() - t0) / 1000000;
	if (ms >= 2000)
		fprintf(stderr, "  pathological patterns took %llu ms\n", (unsigned long long)ms);
	CHECK(ms < 2000);
	ignore_release(&ig);
	free(path);
}

void test_sync_ignore(void)
{
	test_table();
	test_nested();
	test_project();
	test_why_and_stack();
	test_deciding_rule();
	test_git_tracked();
	test_limits();
	test_pathological();
}
