/*
 * job-spec.c - the launch spec on disk (job-spec.h).
 *
 * Decoding never trusts a count: argv and the environment are tagged
 * lists that grow as entries arrive, each list and each string capped by
 * a named limit, the whole file by JOB_SPEC_MAX.
 */
#include "job-spec.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fsx.h"
#include "job-tag.h"
#include "job.h"
#include "limits.h"
#include "util.h"

#include "banned.h"

#define JOB_SPEC_MAGIC	0x464a5331u	/* "FJS1" */

/* Add a field with a new tag; never reuse or renumber one.  The first
 * version's fields are required (a spec cut short is refused), except
 * lists that may be empty (resources): a list is its entries. */
static const struct tag_field spec_fields[] = {
	{ 1, TAG_LIST, 1, offsetof(struct job_spec, argv), JOB_SPEC_ITEMS_MAX, offsetof(struct job_spec, argc) },
	{ 2, TAG_LIST, 0, offsetof(struct job_spec, env), JOB_SPEC_ITEMS_MAX, offsetof(struct job_spec, envc) },
	{ 3, TAG_STR, 1, offsetof(struct job_spec, cwd), PATH_MAX_ABS, 0 },
	{ 4, TAG_U8, 1, offsetof(struct job_spec, pty), 0, 0 },
	{ 5, TAG_U16, 1, offsetof(struct job_spec, rows), 0, 0 },
	{ 6, TAG_U16, 1, offsetof(struct job_spec, cols), 0, 0 },
	{ 7, TAG_LIST, 0, offsetof(struct job_spec, resources), JOB_RESOURCES_MAX,
	  offsetof(struct job_spec, nresources) },
	{ 8, TAG_STR, 1, offsetof(struct job_spec, code_id), 64, 0 },
	{ 9, TAG_STR, 1, offsetof(struct job_spec, env_id), JOB_ENV_ID_MAX, 0 },
};

void job_spec_release(struct job_spec *s)
{
	free_words(s->argv);
	free_words(s->env);
	free(s->cwd);
	free_words(s->resources);
	free(s->code_id);
	free(s->env_id);
	memset(s, 0, sizeof(*s));
}

int job_spec_encode(const struct job_spec *s, struct buf *out)
{
	if (s->argc == 0 || s->cwd == NULL || s->cwd[0] != '/')
		return -1;
	int r = buf_put_u32(out, JOB_SPEC_MAGIC);
	r |= tag_encode(spec_fields, ARRAY_LEN(spec_fields), s, out);
	return r ? -1 : 0;
}

int job_spec_decode(const void *p, size_t n, struct job_spec *s)
{
	struct rd r;
	memset(s, 0, sizeof(*s));
	rd_init(&r, p, n);
	if (rd_u32(&r) != JOB_SPEC_MAGIC)
		rd_fail(&r);
	else
		(void)tag_decode(spec_fields, ARRAY_LEN(spec_fields), &r, s);
	/* Where it runs is an absolute path, and something runs. */
	if (!rd_ok(&r) || s->argc == 0 || s->argv[0][0] == '\0' || s->cwd[0] != '/' || s->pty > 1) {
		job_spec_release(s);
		return -1;
	}
	return 0;
}

int job_spec_save(const char *dir, const struct job_spec *s)
{
	struct buf b;
	char *path = xasprintf("%s/spec", dir);
	buf_init(&b, JOB_SPEC_MAX);
	int r = job_spec_encode(s, &b) < 0 ? -E2BIG : job_put_file(path, b.data, b.len);
	buf_release(&b);
	free(path);
	return r;
}

int job_spec_load(const char *dir, struct job_spec *s)
{
	char *path = xasprintf("%s/spec", dir), *t = NULL;
	size_t n;
	int r = read_file(path, JOB_SPEC_MAX, &t, &n);
	free(path);
	if (r < 0) {
		memset(s, 0, sizeof(*s));
		return r == -ENOENT ? -ENOENT : -EBADMSG;
	}
	r = job_spec_decode(t, n, s) < 0 ? -EBADMSG : 0;
	free(t);
	return r;
}
