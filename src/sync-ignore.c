/*
 * sync-ignore.c - .gitignore rules: parsing, precedence, matching (see
 * sync-ignore.h).
 *
 * A pattern compiles to segments, one per '/'-separated piece; a segment is
 * a run of tokens matched against exactly one path component, a "match any
 * one component", or a "**" matching zero or more components.  Matching is
 * then two nested copies of the same greedy algorithm, with a "*" at the
 * inner level and a "**" at the outer one: every other token (segment)
 * consumes exactly one byte (component), so on a mismatch it is enough to
 * retry from the most recent star, one unit further.  That makes each
 * (segment, component) and each (token, byte) pair compared at most once
 * per star, so a match costs O(pattern * path) and never explodes the way
 * recursive backtracking does on "*a*a*a*a*b".
 *
 * Invariant: ig->rules is sorted by precedence (depth, then root .gitignore
 * before project file, then insertion order), so the first match found
 * walking backwards decides.  Nothing here reads the filesystem.
 */
#define _GNU_SOURCE
#include "sync-ignore.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

enum { TOK_LIT, TOK_ANY, TOK_CLASS, TOK_STAR };
enum { SEG_GLOB, SEG_ANY, SEG_STARSTAR };

struct ignore_tok {
	uint8_t op;
	uint8_t ch;		/* TOK_LIT: the byte; TOK_STAR: run length, at most 2 */
	uint16_t cls;		/* TOK_CLASS: index into prog->cls */
};

struct ignore_seg {
	uint32_t off, n;	/* tokens of a SEG_GLOB */
	uint8_t kind;
};

struct ignore_prog {
	struct ignore_seg *seg;
	size_t nseg;
	struct ignore_tok *tok;
	uint8_t (*cls)[32];	/* 256-bit sets, negation already applied */
};

/* The source name and directory, shared by the rules of one text. */
struct ignore_src {
	size_t refs;
	size_t dirlen;
	char *dir;		/* "" or "a/b/", inside the same block */
	char name[];
};

static struct ignore_src *src_new(const char *name, const char *dir, size_t dirlen)
{
	size_t nl = strlen(name);
	struct ignore_src *s = xmalloc(sizeof(*s) + nl + 1 + dirlen + 2);
	s->refs = 1;
	memcpy(s->name, name, nl + 1);
	s->dir = s->name + nl + 1;
	memcpy(s->dir, dir, dirlen);
	if (dirlen > 0)
		s->dir[dirlen++] = '/';
	s->dir[dirlen] = '\0';
	s->dirlen = dirlen;
	return s;
}

static void src_put(struct ignore_src *s)
{
	if (s != NULL && --s->refs == 0)
		free(s);
}

static void prog_free(struct ignore_prog *p)
{
	if (p == NULL)
		return;
	free(p->seg);
	free(p->tok);
	free(p->cls);
	free(p);
}

static void rule_free(struct ignore_rule *r)
{
	if (r == NULL)
		return;
	prog_free(r->prog);
	src_put(r->src);
	free((char *)r->pattern);
	free(r);
}

/* ---- compiling ---- */

static void set_bit(uint8_t *map, unsigned c)
{
	map[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* ASCII only, as git's own ctype: the locale never changes a match. */
static bool named_class(const unsigned char *name, size_t n, uint8_t *map)
{
	static const char *const names[] = {
		"alnum", "alpha", "blank", "cntrl", "digit", "graph",
		"lower", "print", "punct", "space", "upper", "xdigit",
	};
	size_t k;
	for (k = 0; k < ARRAY_LEN(names); k++)
		if (strlen(names[k]) == n && memcmp(names[k], name, n) == 0)
			break;
	if (k == ARRAY_LEN(names))
		return false;
	for (unsigned c = 0; c < 128; c++) {
		bool up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z';
		bool dig = c >= '0' && c <= '9', graph = c > 32 && c < 127;
		bool in = false;
		switch (k) {
		case 0: in = up || lo || dig; break;
		case 1: in = up || lo; break;
		case 2: in = c == ' ' || c == '\t'; break;
		case 3: in = c < 32 || c == 127; break;
		case 4: in = dig; break;
		case 5: in = graph; break;
		case 6: in = lo; break;
		case 7: in = graph || c == ' '; break;
		case 8: in = graph && !(up || lo || dig); break;
		case 9: in = c == ' ' || (c >= '\t' && c <= '\r'); break;
		case 10: in = up; break;
		case 11: in = dig || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
		}
		if (in)
			set_bit(map, c);
	}
	return true;
}

/*
 * A bracket expression; p is just past the '['.  Returns the bytes used up
 * to and including the closing ']', or -1 when it never closes or names an
 * unknown class (git then fails the whole match; so do we).  A ']' first
 * is literal, "a-" before ']' is literal, a reversed range is empty, and a
 * "[:" not closed by ":]" is a literal '['.
 */
static long parse_class(const unsigned char *p, size_t n, uint8_t *map)
{
	size_t i = 0;
	int prev = -1;		/* a byte that can start a range */
	bool neg = false;

	memset(map, 0, 32);
	if (i < n && (p[i] == '!' || p[i] == '^')) {
		neg = true;
		i++;
	}
	for (bool first = true; ; first = false) {
		if (i >= n)
			return -1;
		unsigned c = p[i];
		if (c == ']' && !first) {
			i++;
			break;
		}
		if (c == '\\') {
			if (++i >= n)
				return -1;
			c = p[i++];
			set_bit(map, c);
			prev = (int)c;
			continue;
		}
		if (c == '-' && prev >= 0 && i + 1 < n && p[i + 1] != ']') {
			unsigned hi = p[i + 1];
			i += 2;
			if (hi == '\\') {
				if (i >= n)
					return -1;
				hi = p[i++];
			}
			for (unsigned x = (unsigned)prev; x <= hi; x++)
				set_bit(map, x);
			prev = -1;
			continue;
		}
		if (c == '[' && i + 1 < n && p[i + 1] == ':') {
			size_t s = i + 2, e = s;
			while (e < n && p[e] != ']')
				e++;
			if (e >= n)
				return -1;
			if (e > s && p[e - 1] == ':') {
				if (!named_class(p + s, e - 1 - s, map))
					return -1;
				i = e + 1;
				prev = -1;
				continue;
			}
		}
		set_bit(map, c);
		prev = (int)c;
		i++;
	}
	if (neg)
		for (size_t k = 0; k < 32; k++)
			map[k] = (uint8_t)~map[k];
	return (long)i;
}

static bool is_sep(const unsigned char *b, size_t n, size_t i, size_t *step)
{
	if (b[i] == '/') {
		*step = 1;
		return true;
	}
	if (b[i] == '\\' && i + 1 < n && b[i + 1] == '/') {
		*step = 2;
		return true;
	}
	return false;
}

/* body: no '!', no trailing '/', no leading '/'.  NULL when it can never
 * match. */
static struct ignore_prog *compile(const unsigned char *b, size_t n, bool anchored)
{
	struct ignore_prog *p = xcalloc(1, sizeof(*p));
	size_t ntok = 0, ncls = 0, seg_start = 0, i = 0, step = 0;

	/* Upper bounds: a token per byte; a segment per '/' plus one, and one
	 * more for each split "**" (at most two per byte in all); a class per
	 * two bytes. */
	p->tok = xmalloc((n + 1) * sizeof(*p->tok));
	p->seg = xmalloc((2 * n + 2) * sizeof(*p->seg));
	for (;;) {
		if (i == n || is_sep(b, n, i, &step)) {
			struct ignore_seg *s = &p->seg[p->nseg++];
			s->off = (uint32_t)seg_start;
			s->n = (uint32_t)(ntok - seg_start);
			s->kind = SEG_GLOB;
			if (s->n == 1 && p->tok[seg_start].op == TOK_STAR && p->tok[seg_start].ch == 2)
				s->kind = SEG_STARSTAR;
			if (i == n)
				break;
			/* git skips "zero directories" only for a plain '/' after
			 * "**"; before "\/" it wants at least one component. */
			if (s->kind == SEG_STARSTAR && step == 2) {
				s->kind = SEG_ANY;
				s = &p->seg[p->nseg++];
				s->off = s->n = 0;
				s->kind = SEG_STARSTAR;
			}
			i += step;
			seg_start = ntok;
			continue;
		}
		struct ignore_tok *t = &p->tok[ntok++];
		t->ch = 0;
		t->cls = 0;
		switch (b[i]) {
		case '\\':
			if (i + 1 == n)
				goto never;
			t->op = TOK_LIT;
			t->ch = b[i + 1];
			i += 2;
			break;
		case '?':
			t->op = TOK_ANY;
			i++;
			break;
		case '*':
			t->op = TOK_STAR;
			t->ch = 1;
			while (++i < n && b[i] == '*')
				t->ch = 2;
			break;
		case '[': {
			if (p->cls == NULL)
				p->cls = xmalloc((n / 2 + 1) * sizeof(*p->cls));
			long used = parse_class(b + i + 1, n - i - 1, p->cls[ncls]);
			if (used < 0)
				goto never;
			t->op = TOK_CLASS;
			t->cls = (uint16_t)ncls++;
			i += 1 + (size_t)used;
			break;
		}
		default:
			t->op = TOK_LIT;
			t->ch = b[i++];
			break;
		}
	}
	/* "x/" + "**" wants at least one component below x: git matches the
	 * '/' literally, so "x" itself is not inside. */
	if (anchored && p->nseg > 1 && p->seg[p->nseg - 1].kind == SEG_STARSTAR) {
		p->seg[p->nseg - 1].kind = SEG_ANY;
		p->seg[p->nseg].kind = SEG_STARSTAR;
		p->seg[p->nseg].off = p->seg[p->nseg].n = 0;
		p->nseg++;
	}
	return p;
never:
	prog_free(p);
	return NULL;
}

/* ---- matching ---- */

static bool tok_match(const struct ignore_prog *p, const struct ignore_tok *t, unsigned c)
{
	switch (t->op) {
	case TOK_LIT:
		return t->ch == c;
	case TOK_ANY:
		return true;	/* a component holds no '/' */
	case TOK_CLASS:
		return (p->cls[t->cls][c >> 3] >> (c & 7)) & 1;
	}
	return false;
}

/* Tokens against one component. */
static bool glob_match(const struct ignore_prog *p, const struct ignore_tok *t, size_t n,
		       const unsigned char *s, size_t m)
{
	size_t ti = 0, si = 0, star_t = SIZE_MAX, star_s = 0;

	while (si < m) {
		if (ti < n && t[ti].op == TOK_STAR) {
			star_t = ++ti;
			star_s = si;
		} else if (ti < n && tok_match(p, &t[ti], s[si])) {
			ti++;
			si++;
		} else if (star_t != SIZE_MAX) {
			ti = star_t;
			si = ++star_s;
		} else {
			return false;
		}
	}
	while (ti < n && t[ti].op == TOK_STAR)
		ti++;
	return ti == n;
}

static size_t comp_end(const char *s, size_t len, size_t at)
{
	const char *e = memchr(s + at, '/', len - at);
	return e ? (size_t)(e - s) : len;
}

/* Segments against the components of s[0..len); positions are byte
 * offsets of component starts, len + 1 meaning "past the last". */
static bool segs_match(const struct ignore_prog *p, const char *s, size_t len)
{
	size_t gi = 0, si = 0, star_g = SIZE_MAX, star_s = 0;

	/* A last glob segment can only take the last component: try that
	 * first, which rejects most paths for "**" + "/name" in O(name). */
	if (p->nseg > 1 && p->seg[p->nseg - 1].kind == SEG_GLOB) {
		const struct ignore_seg *g = &p->seg[p->nseg - 1];
		size_t b = len;
		while (b > 0 && s[b - 1] != '/')
			b--;
		if (!glob_match(p, p->tok + g->off, g->n, (const unsigned char *)s + b, len - b))
			return false;
	}
	while (si <= len) {
		size_t e = comp_end(s, len, si);
		const struct ignore_seg *g = gi < p->nseg ? &p->seg[gi] : NULL;
		if (g && g->kind == SEG_STARSTAR) {
			star_g = ++gi;
			star_s = si;
		} else if (g && (g->kind == SEG_ANY ||
				 glob_match(p, p->tok + g->off, g->n,
					    (const unsigned char *)s + si, e - si))) {
			gi++;
			si = e + 1;
		} else if (star_g != SIZE_MAX) {
			gi = star_g;
			star_s = comp_end(s, len, star_s) + 1;
			si = star_s;
		} else {
			return false;
		}
	}
	while (gi < p->nseg && p->seg[gi].kind == SEG_STARSTAR)
		gi++;
	return gi == p->nseg;
}

/* base: offset of the last component of path. */
static bool rule_matches(const struct ignore_rule *r, const char *path, size_t len,
			 size_t base, bool is_dir)
{
	size_t dl = r->src->dirlen;

	if (r->dir_only && !is_dir)
		return false;
	if (len <= dl || memcmp(path, r->dir, dl) != 0)
		return false;
	/* dir ends in '/', so the basename lies inside the part below it. */
	if (!r->anchored)
		return segs_match(r->prog, path + base, len - base);
	return segs_match(r->prog, path + dl, len - dl);
}

static int match_len(const struct ignore *ig, const char *path, size_t len, bool is_dir,
		     const struct ignore_rule **why)
{
	size_t base = len;

	if (why)
		*why = NULL;
	if (len == 0)
		return 0;
	while (base > 0 && path[base - 1] != '/')
		base--;
	for (size_t i = ig->n; i-- > 0; ) {
		const struct ignore_rule *r = ig->rules[i];
		if (rule_matches(r, path, len, base, is_dir)) {
			if (why)
				*why = r;
			return r->negated ? 0 : 1;
		}
	}
	return 0;
}

int ignore_match(const struct ignore *ig, const char *path, bool is_dir,
		 const struct ignore_rule **why)
{
	size_t len = strlen(path);

	if (len > 0 && path[len - 1] == '/') {
		len--;
		is_dir = true;
	}
	return match_len(ig, path, len, is_dir, why);
}

int ignore_path(const struct ignore *ig, const char *path, bool is_dir,
		const struct ignore_rule **why)
{
	size_t len = strlen(path);

	if (len > 0 && path[len - 1] == '/') {
		len--;
		is_dir = true;
	}
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/' || path[i - 1] == '/')
			continue;
		if (match_len(ig, path, i, true, why) == 1)
			return 1;
	}
	return match_len(ig, path, len, is_dir, why);
}

/* ---- the set ---- */

void ignore_init(struct ignore *ig)
{
	memset(ig, 0, sizeof(*ig));
}

void ignore_release(struct ignore *ig)
{
	if (ig == NULL)
		return;
	for (size_t i = 0; i < ig->n; i++)
		rule_free(ig->rules[i]);
	free(ig->rules);
	memset(ig, 0, sizeof(*ig));
}

size_t ignore_mark(const struct ignore *ig)
{
	return ig->seq;
}

void ignore_pop(struct ignore *ig, size_t mark)
{
	size_t k = 0;

	for (size_t i = 0; i < ig->n; i++) {
		if (ig->rules[i]->seq >= mark)
			rule_free(ig->rules[i]);
		else
			ig->rules[k++] = ig->rules[i];
	}
	ig->n = k;
}

/* Whether a has lower precedence than b. */
static bool below(const struct ignore_rule *a, const struct ignore_rule *b)
{
	if (a->depth != b->depth)
		return a->depth < b->depth;
	if (a->project != b->project)
		return !a->project;
	return a->seq < b->seq;
}

static void insert(struct ignore *ig, struct ignore_rule *r)
{
	size_t at = ig->n;

	if (ig->n == ig->cap) {
		ig->cap = ig->cap ? ig->cap * 2 : 64;
		ig->rules = xrealloc(ig->rules, ig->cap * sizeof(*ig->rules));
	}
	/* The walker adds shallow before deep, so this is nearly always an
	 * append. */
	while (at > 0 && below(r, ig->rules[at - 1]))
		at--;
	memmove(ig->rules + at + 1, ig->rules + at, (ig->n - at) * sizeof(*ig->rules));
	ig->rules[at] = r;
	ig->n++;
}

/* Where unescaped trailing spaces start: "a \ " keeps "a \ ". */
static size_t trim_spaces(const char *p, size_t n)
{
	size_t i = 0, run = 0;
	bool in_run = false;

	while (i < n) {
		if (p[i] == ' ') {
			if (!in_run)
				run = i;
			in_run = true;
			i++;
			continue;
		}
		in_run = false;
		i += p[i] == '\\' ? 2 : 1;
	}
	return in_run ? run : n;
}

/* One line without its '\n'.  *count: rules this text added so far. */
static int add_line(struct ignore *ig, struct ignore_src *src, bool project, unsigned depth,
		    const char *p, size_t n, int line, size_t *count)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n == 0 || p[0] == '#')
		return 0;
	if (n > IGNORE_PATTERN_MAX)
		return -ENAMETOOLONG;
	if (memchr(p, '\0', n) != NULL)
		return 0;
	n = trim_spaces(p, n);

	const char *b = p;
	size_t bn = n;
	bool neg = false, dir_only = false, anchored;
	if (bn > 0 && b[0] == '!') {
		neg = true;
		b++;
		bn--;
	}
	if (bn > 0 && b[bn - 1] == '/') {
		dir_only = true;
		bn--;
	}
	/* As git: any '/' left anchors, even one inside "[...]" or escaped. */
	anchored = memchr(b, '/', bn) != NULL;
	if (bn > 0 && b[0] == '/') {
		b++;
		bn--;
	}
	if (bn == 0)
		return 0;
	if (*count >= IGNORE_RULES_MAX || ig->n >= IGNORE_TOTAL_MAX)
		return -E2BIG;

	struct ignore_prog *prog = compile((const unsigned char *)b, bn, anchored);
	if (prog == NULL)
		return 0;
	struct ignore_rule *r = xcalloc(1, sizeof(*r));
	r->pattern = xstrndup(p, n);
	r->source = src->name;
	r->dir = src->dir;
	r->line = line;
	r->negated = neg;
	r->dir_only = dir_only;
	r->anchored = anchored;
	r->seq = ig->seq++;
	r->depth = depth;
	r->project = project;
	r->src = src;
	src->refs++;
	r->prog = prog;
	insert(ig, r);
	(*count)++;
	return 0;
}

int ignore_add_text(struct ignore *ig, const char *dir, const char *source,
		    const char *text, size_t len)
{
	size_t dirlen, mark = ignore_mark(ig), count = 0, i = 0;
	unsigned depth = 0;
	int line = 0, r = 0;

	if (len > IGNORE_FILE_MAX)
		return -EFBIG;
	if (dir == NULL)
		dir = "";
	if (dir[0] == '/')
		return -EINVAL;
	dirlen = strlen(dir);
	while (dirlen > 0 && dir[dirlen - 1] == '/')
		dirlen--;
	if (dirlen > PATH_REL_MAX)
		return -ENAMETOOLONG;
	if (dirlen > 0)
		depth = 1;
	for (size_t k = 0; k < dirlen; k++)
		depth += dir[k] == '/';

	struct ignore_src *src = src_new(source ? source : "", dir, dirlen);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len;
		r = add_line(ig, src, false, depth, text + i, e - i, ++line, &count);
		if (r < 0)
			break;
		i = e + 1;
	}
	if (r < 0)
		ignore_pop(ig, mark);
	src_put(src);
	return r;
}

int ignore_add_pattern(struct ignore *ig, const char *pattern, const char *source, int line)
{
	size_t n = strlen(pattern), count = 0;

	if (memchr(pattern, '\n', n) != NULL)
		return -EINVAL;
	struct ignore_src *src = src_new(source ? source : "", "", 0);
	int r = add_line(ig, src, true, 0, pattern, n, line, &count);
	src_put(src);
	return r;
}
