/*
 * test-job-spec.c - the launch spec and the tagged fields under it: a
 * round trip, every truncation refused, unknown fields skipped, repeated
 * ones refused, lists never sized from a count, the file written 0600.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "job-spec.h"
#include "limits.h"
#include "t.h"
#include "util.h"

static struct job_spec sample(void)
{
	struct job_spec s = { .pty = 1, .rows = 50, .cols = 132 };
	char *argv[] = { "/bin/sh", "-c", "echo hi; exit 3", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "FERRY_JOB_ID=7", "EMPTY=", NULL };
	s.argv = xcalloc(4, sizeof(char *));
	for (s.argc = 0; argv[s.argc]; s.argc++)
		s.argv[s.argc] = xstrdup(argv[s.argc]);
	s.env = xcalloc(4, sizeof(char *));
	for (s.envc = 0; env[s.envc]; s.envc++)
		s.env[s.envc] = xstrdup(env[s.envc]);
	s.cwd = xstrdup("/home/u/p/.ferry/snap/0123456789abcdef");
	s.resources = xcalloc(1, sizeof(char *));
	s.code_id = xstrdup("0123456789abcdef");
	s.env_id = xstrdup("login");
	return s;
}

static void test_round_trip(void)
{
	t_case = "job spec: round trip, truncations";
	struct job_spec s = sample(), d;
	struct buf b;
	buf_init(&b, JOB_SPEC_MAX);
	CHECK(job_spec_encode(&s, &b) == 0);
	CHECK(job_spec_decode(b.data, b.len, &d) == 0);
	CHECK(d.argc == 3 && d.envc == 3 && d.nresources == 0 && d.pty == 1 && d.rows == 50 && d.cols == 132);
	CHECK_STR(d.argv[2], "echo hi; exit 3");
	CHECK(d.argv[3] == NULL && d.env[3] == NULL && d.resources[0] == NULL);
	CHECK_STR(d.env[2], "EMPTY=");
	CHECK_STR(d.cwd, s.cwd);
	CHECK_STR(d.code_id, "0123456789abcdef");
	CHECK_STR(d.env_id, "login");
	job_spec_release(&d);
	/* Cut anywhere: refused (every field of this version is required,
	 * and each list is followed by one). */
	int bad = 0;
	for (size_t n = 0; n < b.len; n++)
		if (job_spec_decode(b.data, n, &d) == 0) {
			bad++;
			job_spec_release(&d);
		}
	CHECK(bad == 0);
	/* A relative cwd, or nothing to run, is not written. */
	free(s.cwd);
	s.cwd = xstrdup("rel/dir");
	buf_reset(&b);
	CHECK(job_spec_encode(&s, &b) < 0);
	buf_release(&b);
	job_spec_release(&s);
}

static void test_tags(void)
{
	t_case = "job spec: unknown, repeated and oversized fields";
	struct job_spec s = sample(), d;
	struct buf b;
	buf_init(&b, JOB_SPEC_MAX);
	CHECK(job_spec_encode(&s, &b) == 0);
	size_t len = b.len;
	/* A field of a later version (tag 60) is skipped. */
	buf_put_u16(&b, 60);
	buf_put_cstr(&b, "from the future");
	CHECK(job_spec_decode(b.data, b.len, &d) == 0);
	job_spec_release(&d);
	/* The same scalar twice (rows, tag 5): refused. */
	b.len = len;
	buf_put_u16(&b, 5);
	buf_put_str(&b, "\0\x10", 2);
	CHECK(job_spec_decode(b.data, b.len, &d) < 0);
	/* A value of the wrong width: refused. */
	b.len = len;
	buf_put_u16(&b, 60);
	buf_put_cstr(&b, "x");
	buf_put_u16(&b, 4);
	buf_put_str(&b, "\0\1", 2);
	CHECK(job_spec_decode(b.data, b.len, &d) < 0);
	/* A list entry past the item limit, and a NUL inside a string. */
	b.len = len;
	buf_put_u16(&b, 7);
	char *big = xcalloc(TAG_ITEM_MAX + 2, 1);
	memset(big, 'g', TAG_ITEM_MAX + 1);
	buf_put_cstr(&b, big);
	CHECK(job_spec_decode(b.data, b.len, &d) < 0);
	free(big);
	b.len = len;
	buf_put_u16(&b, 7);
	buf_put_str(&b, "gpu\0=1", 6);
	CHECK(job_spec_decode(b.data, b.len, &d) < 0);
	/* More resources than JOB_RESOURCES_MAX: refused; as many: read. */
	b.len = len;
	for (int i = 0; i < JOB_RESOURCES_MAX; i++) {
		buf_put_u16(&b, 7);
		buf_put_cstr(&b, "gpu=1");
	}
	CHECK(job_spec_decode(b.data, b.len, &d) == 0 && d.nresources == JOB_RESOURCES_MAX &&
	      d.resources[JOB_RESOURCES_MAX] == NULL);
	job_spec_release(&d);
	buf_put_u16(&b, 7);
	buf_put_cstr(&b, "gpu=1");
	CHECK(job_spec_decode(b.data, b.len, &d) < 0);
	/* Another magic number. */
	b.data[3] ^= 1;
	CHECK(job_spec_decode(b.data, len, &d) < 0);
	buf_release(&b);
	job_spec_release(&s);
}

/* Lists grow by doubling as entries arrive: every length across the
 * first few powers of two reads back whole and NULL-terminated (ASan
 * sees any write past the vector). */
static void test_list_growth(void)
{
	t_case = "job spec: list growth";
	for (uint32_t n = 1; n <= 70; n++) {
		struct job_spec s = sample(), d;
		struct buf b;
		free_words(s.env);
		s.env = xcalloc((size_t)n + 1, sizeof(char *));
		for (s.envc = 0; s.envc < n; s.envc++)
			s.env[s.envc] = xasprintf("V%u=%u", s.envc, s.envc);
		buf_init(&b, JOB_SPEC_MAX);
		CHECK(job_spec_encode(&s, &b) == 0);
		CHECK(job_spec_decode(b.data, b.len, &d) == 0);
		CHECK(d.envc == n && d.env[n] == NULL);
		char want[32];
		snprintf(want, sizeof(want), "V%u=%u", n - 1, n - 1);
		CHECK_STR(d.env[n - 1], want);
		job_spec_release(&d);
		buf_release(&b);
		job_spec_release(&s);
	}
}

static void test_file(void)
{
	t_case = "job spec: the file";
	char dir[] = "/tmp/ferry-spec-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct job_spec s = sample(), d;
	CHECK(job_spec_load(dir, &d) == -ENOENT);
	CHECK(job_spec_save(dir, &s) == 0);
	char *path = xasprintf("%s/spec", dir);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(job_spec_load(dir, &d) == 0 && d.argc == 3);
	job_spec_release(&d);
	/* Damaged: -EBADMSG, never a partial spec. */
	CHECK(truncate(path, 20) == 0);
	CHECK(job_spec_load(dir, &d) == -EBADMSG);
	unlink(path);
	rmdir(dir);
	free(path);
	job_spec_release(&s);
}

void test_job_spec(void)
{
	test_round_trip();
	test_tags();
	test_list_growth();
	test_file();
}
