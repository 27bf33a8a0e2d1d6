/*
 * fuzz-ignore.c - libFuzzer harness: .gitignore texts and paths.
 *
 * Input: the root .gitignore text, a NUL, the text of "a/.gitignore", a
 * NUL, then paths one per line ("x/" is a directory).  The first line of
 * the root text is also added as a project-file rule.  Checks that the
 * answers agree with each other, and that a pop drops what was added.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync-ignore.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t part(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, '\0', n);
	return z ? (size_t)(z - p) : n;
}

/*
 * ignore_path costs one ignore_match per parent, so its worst case grows
 * with depth squared (as a walker's does over a whole deep tree): 2000
 * components against 120 "**" rules took over a minute under ASan.  The
 * matcher itself is what is under test, so deep paths get ignore_match
 * only.
 */
#define FUZZ_PATH_DEPTH_MAX 16

static void check(const struct ignore *ig, const char *path)
{
	const struct ignore_rule *why, *pwhy = NULL;
	int m = ignore_match(ig, path, false, &why);
	int d = ignore_match(ig, path, true, NULL);
	size_t depth = 0;

	for (const char *s = path; *s; s++)
		depth += *s == '/';
	if (m == 1 && (why == NULL || why->negated))
		abort();
	if (m == 0 && why != NULL && !why->negated)
		abort();
	if (why != NULL && (why->pattern == NULL || why->source == NULL || why->dir == NULL))
		abort();
	if (depth > FUZZ_PATH_DEPTH_MAX)
		return;
	int p = ignore_path(ig, path, false, &pwhy);

	if (d == 1 && ignore_path(ig, path, true, NULL) != 1)
		abort();
	if (m == 1 && p != 1)
		abort();
	if (p == 1 && (pwhy == NULL || pwhy->negated))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ignore ig;
	size_t n0 = part(data, size), off = n0 < size ? n0 + 1 : size;
	size_t n1 = part(data + off, size - off);
	const char *t1 = (const char *)data + off;
	off = off + n1 < size ? off + n1 + 1 : size;

	ignore_init(&ig);
	(void)ignore_add_text(&ig, "", ".gitignore", (const char *)data, n0);
	const uint8_t *nl = memchr(data, '\n', n0);
	char *first = xstrndup((const char *)data, nl ? (size_t)(nl - data) : n0);
	(void)ignore_add_pattern(&ig, first, "ferry.ini", 1);
	free(first);

	size_t mark = ignore_mark(&ig), before = ig.n;
	(void)ignore_add_text(&ig, "a", "a/.gitignore", t1, n1);

	while (off < size) {
		const uint8_t *e = memchr(data + off, '\n', size - off);
		size_t len = e ? (size_t)(e - data - off) : size - off;
		char *path = xstrndup((const char *)data + off, len);
		check(&ig, path);
		free(path);
		off += len + 1;
	}
	ignore_pop(&ig, mark);
	if (ig.n != before)
		abort();
	ignore_release(&ig);
	return 0;
}
