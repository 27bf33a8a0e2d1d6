/*
 * test-err.c - the agent's errors: one table, held to docs/exit-codes.md,
 * and err_from_peer on good, unknown and malformed ERROR bodies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "limits.h"
#include "proto.h"
#include "session.h"
#include "t.h"
#include "util.h"

#define DOC "docs/exit-codes.md"
#define DOC_ROWS_MAX 64
#define DOC_CELLS 5

struct doc_row {
	char cell[DOC_CELLS][256];
	int n;
};

/* The rows of the table whose header line starts with header, cells
 * trimmed; "—" (no hint) reads as "". */
static int doc_table(const char *text, const char *header, struct doc_row *rows, int max)
{
	const char *p = strstr(text, header);
	int n = 0;
	if (p == NULL)
		return -1;
	p = strchr(p, '\n');
	while (p && p[1] == '|' && n < max) {
		const char *line = p + 1, *end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		p = *end ? end : NULL;
		if (strncmp(line, "|---", 4) == 0)
			continue;
		struct doc_row *r = &rows[n++];
		memset(r, 0, sizeof(*r));
		const char *c = line + 1;
		while (c < end && r->n < DOC_CELLS) {
			const char *bar = memchr(c, '|', (size_t)(end - c));
			if (bar == NULL)
				break;
			const char *a = c, *b = bar;
			while (a < b && *a == ' ')
				a++;
			while (b > a && b[-1] == ' ')
				b--;
			size_t len = (size_t)(b - a);
			if (len >= sizeof(r->cell[0]))
				len = sizeof(r->cell[0]) - 1;
			memcpy(r->cell[r->n], a, len);
			if (strcmp(r->cell[r->n], "—") == 0)
				r->cell[r->n][0] = '\0';
			r->n++;
			c = bar + 1;
		}
	}
	return n;
}

static const struct doc_row *doc_find(const struct doc_row *rows, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].cell[0], key) == 0)
			return &rows[i];
	return NULL;
}

/* How many ways the document and the tables disagree, each printed. */
static int doc_mismatches(const char *text)
{
	struct doc_row rows[DOC_ROWS_MAX];
	char key[32], want[32];
	int bad = 0;
	size_t ne, nc;
	const struct err_exit *ex = err_exits(&ne);
	const struct err_class *cl = err_classes(&nc);

	int n = doc_table(text, "| code | name | when |", rows, DOC_ROWS_MAX);
	if (n < 0) {
		fprintf(stderr, DOC ": no exit code table\n");
		return 1;
	}
	for (size_t i = 0; i < ne; i++) {
		snprintf(key, sizeof(key), "%d", ex[i].code);
		const struct doc_row *r = doc_find(rows, n, key);
		if (r == NULL || strcmp(r->cell[1], ex[i].name) != 0) {
			fprintf(stderr, DOC ": exit %d should be named '%s'\n", ex[i].code, ex[i].name);
			bad++;
		}
	}
	for (int k = 0; k < n; k++) {
		size_t i = 0;
		while (i < ne && strtol(rows[k].cell[0], NULL, 10) != ex[i].code)
			i++;
		if (i == ne) {
			fprintf(stderr, DOC ": exit %s is not one of ferry's (src/err.c)\n", rows[k].cell[0]);
			bad++;
		}
	}

	n = doc_table(text, "| error | name | exit | when | hint |", rows, DOC_ROWS_MAX);
	if (n < 0) {
		fprintf(stderr, DOC ": no table of the agent's errors\n");
		return bad + 1;
	}
	for (size_t i = 0; i <= nc; i++) {
		/* The last round: a code no table row has. */
		const struct err_class *c = i < nc ? &cl[i] : err_class_of(UINT32_MAX);
		if (i < nc)
			snprintf(key, sizeof(key), "%u", c->perr);
		else
			snprintf(key, sizeof(key), "other");
		snprintf(want, sizeof(want), "%d", c->exit);
		const struct doc_row *r = doc_find(rows, n, key);
		if (r == NULL || r->n != DOC_CELLS || strcmp(r->cell[1], c->name) != 0 ||
		    strcmp(r->cell[2], want) != 0 || strcmp(r->cell[4], c->hint ? c->hint : "") != 0) {
			fprintf(stderr, DOC ": error %s should read | %s | %s | %s | ... | %s |\n", key, key, c->name, want,
				c->hint ? c->hint : "—");
			bad++;
		}
	}
	if ((size_t)n != nc + 1) {
		fprintf(stderr, DOC ": %d rows of the agent's errors, src/err.c has %zu and 'other'\n", n, nc);
		bad++;
	}
	return bad;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t n = 0, cap = 4096;
	char *s = xmalloc(cap);
	size_t got;
	while ((got = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n < 2)
			s = xrealloc(s, cap *= 2);
	}
	fclose(f);
	s[n] = '\0';
	return s;
}

static void test_doc(void)
{
	t_case = DOC " against src/err.c";
	char *doc = slurp(DOC);
	CHECK(doc != NULL);
	if (doc == NULL)
		return;
	CHECK(doc_mismatches(doc) == 0);

	/* The check itself notices a changed exit, name or hint, and a row
	 * the code does not have. */
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "| 4 | nospc | 73 |", "| 4 | nospc | 75 |" },
		{ "| 7 | nojob | 1 |", "| 7 | no-job | 1 |" },
		{ "| free some space on the server |", "| — |" },
		{ "| 75 | lost |", "| 75 | gone |" },
		{ "| 10 | badfile |", "| 99 | badfile |" },
	};
	fprintf(stderr, "(the lines below come from doctored copies of " DOC ")\n");
	for (size_t i = 0; i < ARRAY_LEN(edits); i++) {
		t_case = edits[i].to;
		char *at = strstr(doc, edits[i].from);
		CHECK(at != NULL);
		if (at == NULL)
			continue;
		char *copy = xasprintf("%.*s%s%s", (int)(at - doc), doc, edits[i].to, at + strlen(edits[i].from));
		CHECK(doc_mismatches(copy) > 0);
		free(copy);
	}
	free(doc);
}

/* An ERROR body as the agent sends it. */
static void peer_error(uint32_t code, const char *msg, struct ferr *e, uint32_t *got)
{
	struct buf b;
	struct rd r;
	buf_init(&b, FRAME_MAX);
	CHECK(error_encode(code, msg, &b) == 0);
	rd_init(&r, b.data, b.len);
	*got = err_from_peer(&r, "gpu1", e);
	buf_release(&b);
}

static void test_from_peer(void)
{
	static const struct {
		uint32_t code;
		const char *msg;
		int exit;
		const char *line, *hint;
	} cases[] = {
		{ PERR_PROTOCOL, "malformed exec request", EXIT_PROTO, "malformed exec request (on gpu1)", NULL },
		{ PERR_VERSION, "no common protocol version", EXIT_PROTO, "no common protocol version (on gpu1)", NULL },
		{ PERR_ROOT, "cannot use project folder 'x'", EXIT_REMOTE, "cannot use project folder 'x' (on gpu1)",
		  "check 'path' in ferry.ini (`ferry config`), or push first" },
		{ PERR_NOSPC, "disk full", EXIT_REMOTE, "disk full (on gpu1)", "free some space on the server" },
		{ PERR_INTERNAL, "cannot open a terminal", EXIT_REMOTE, "cannot open a terminal (on gpu1)", NULL },
		{ PERR_BUSY, "another sync", EXIT_REMOTE, "another sync (on gpu1)",
		  "wait for the other sync of that folder to finish" },
		{ PERR_NOJOB, "no job 4 on this server", EXIT_FAIL, "no job 4 on this server (on gpu1)",
		  "`ferry jobs --all` lists the jobs there" },
		{ PERR_JOB, "job 4 is not running", EXIT_FAIL, "job 4 is not running (on gpu1)", NULL },
		{ PERR_NOFILE, "a.py: no such file", EXIT_FAIL, "a.py: no such file (on gpu1)", NULL },
		{ PERR_BADFILE, "a.py: not regular", EXIT_FAIL, "a.py: not regular (on gpu1)", NULL },
		{ 4242, "from a newer agent", EXIT_REMOTE, "from a newer agent (on gpu1)", NULL },
		/* The peer's words are kept as sent: the line that prints them
		 * makes them visible (error_msg, --json's quoting). */
		{ PERR_JOB, "bad\033]0;title\007\nline", EXIT_FAIL, "bad\033]0;title\007\nline (on gpu1)", NULL },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct ferr e = { 0 };
		uint32_t got;
		t_case = cases[i].line;
		peer_error(cases[i].code, cases[i].msg, &e, &got);
		CHECK(got == cases[i].code);
		CHECK(e.code == cases[i].exit);
		CHECK_STR(e.msg, cases[i].line);
		if (cases[i].hint)
			CHECK_STR(e.hint, cases[i].hint);
		else
			CHECK(e.hint == NULL);
		ferr_release(&e);
	}

	static const struct {
		const char *name;
		uint8_t body[12];
		size_t n;
	} bad[] = {
		{ "empty body", { 0 }, 0 },
		{ "code cut short", { 0, 0, 7 }, 3 },
		{ "string longer than the body", { 0, 0, 0, 7, 0, 0, 0, 9, 'n', 'o' }, 10 },
		{ "bytes after the message", { 0, 0, 0, 7, 0, 0, 0, 1, 'x', 'y' }, 10 },
		{ "code zero", { 0, 0, 0, 0, 0, 0, 0, 1, 'x' }, 9 },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct ferr e = { 0 };
		struct rd r;
		t_case = bad[i].name;
		rd_init(&r, bad[i].body, bad[i].n);
		CHECK(err_from_peer(&r, "gpu1", &e) == 0);
		CHECK(e.code == EXIT_PROTO);
		CHECK_STR(e.msg, "malformed error from the agent on 'gpu1'");
		ferr_release(&e);
	}
}

/* A read that failed: only a malformed header is the agent's fault; a
 * reset, a closed or a cut stream is a lost link.  (A reset used to exit
 * 76, because a malformed header was -1 and every negative looked so.) */
static void test_from_read(void)
{
	static const struct {
		int r;
		enum target_kind kind;
		int exit;
	} cases[] = {
		{ -EBADMSG, TARGET_SSH, EXIT_PROTO },
		{ -EBADMSG, TARGET_LOCAL, EXIT_PROTO },
		{ -ECONNRESET, TARGET_SSH, EXIT_LOST },
		{ -EPIPE, TARGET_SSH, EXIT_LOST },
		{ -EPROTO, TARGET_SSH, EXIT_LOST },
		{ 0, TARGET_SSH, EXIT_LOST },
		{ -ECONNRESET, TARGET_LOCAL, EXIT_LOST },
		{ -EPERM, TARGET_LOCAL, EXIT_LOST },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config cfg = { .kind = cases[i].kind };
		struct session s = { .cfg = &cfg, .label = "gpu1", .proc = { .pid = -1, .in = -1, .out = -1, .err = -1 } };
		struct ferr e = { 0 };
		char name[32];
		snprintf(name, sizeof(name), "read %d", cases[i].r);
		t_case = name;
		buf_init(&s.ssh_err, SSH_STDERR_KEEP);
		err_from_read(&s, cases[i].r, true, &e);
		CHECK(e.code == cases[i].exit);
		ferr_release(&e);
		buf_release(&s.ssh_err);
	}
}

void test_err(void)
{
	test_doc();
	test_from_peer();
	test_from_read();
}
