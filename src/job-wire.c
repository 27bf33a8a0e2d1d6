/*
 * job-wire.c - codecs of the job requests (job-wire.h).
 */
#define _GNU_SOURCE
#include "job-wire.h"

#include <stdlib.h>
#include <string.h>

#include "fsx.h"
#include "job.h"
#include "limits.h"
#include "util.h"

#include "banned.h"

static int put_list(struct buf *out, char *const *v, uint32_t n)
{
	int r = buf_put_u32(out, n);
	for (uint32_t i = 0; i < n; i++)
		r |= buf_put_cstr(out, v[i]);
	return r;
}

/* A NULL-terminated list of at most max strings of at most len bytes. */
static char **get_list(struct rd *r, uint32_t max, size_t len, uint32_t *n)
{
	uint32_t k = rd_u32(r);
	*n = 0;
	if (k > max) {
		rd_fail(r);
		return xcalloc(1, sizeof(char *));
	}
	char **v = xcalloc((size_t)k + 1, sizeof(char *));
	for (uint32_t i = 0; i < k && rd_ok(r); i++) {
		char *s = rd_cstr(r, len);
		if (s == NULL)
			break;
		v[(*n)++] = s;
	}
	return v;
}

int job_start_encode(const struct job_start_req *q, struct buf *out)
{
	int r = buf_put_u32(out, q->flags);
	r |= buf_put_cstr(out, q->name ? q->name : "");
	r |= buf_put_cstr(out, q->root);
	r |= put_list(out, q->argv, q->argc);
	r |= put_list(out, q->env, q->envc);
	r |= buf_put_u16(out, q->rows);
	r |= buf_put_u16(out, q->cols);
	r |= buf_put_cstr(out, q->git_commit ? q->git_commit : "");
	r |= buf_put_u8(out, q->git_dirty);
	r |= put_list(out, q->pull, q->npull);
	r |= buf_put_u64(out, q->max_mem);
	r |= buf_put_u64(out, q->min_avail);
	return r ? -1 : 0;
}

void job_start_release(struct job_start_req *q)
{
	free(q->name);
	free(q->root);
	free_words(q->argv);
	free_words(q->env);
	free(q->git_commit);
	free_words(q->pull);
	memset(q, 0, sizeof(*q));
}

int job_start_decode(struct rd *r, struct job_start_req *q)
{
	memset(q, 0, sizeof(*q));
	q->flags = rd_u32(r);
	q->name = rd_cstr(r, JOB_NAME_MAX);
	q->root = rd_cstr(r, PATH_REL_MAX);
	q->argv = get_list(r, PROTO_ARGV_MAX, PROTO_STR_MAX, &q->argc);
	q->env = get_list(r, PROTO_ENV_MAX, PROTO_STR_MAX, &q->envc);
	q->rows = rd_u16(r);
	q->cols = rd_u16(r);
	q->git_commit = rd_cstr(r, 64);
	q->git_dirty = rd_u8(r);
	q->pull = get_list(r, CONFIG_LIST_MAX, PATH_REL_MAX, &q->npull);
	q->max_mem = rd_u64(r);
	q->min_avail = rd_u64(r);
	rd_expect_end(r);
	bool ok = rd_ok(r) && !(q->flags & ~JOBF_ALL) && q->name && q->root && q->argc > 0 && q->git_commit &&
		  q->git_dirty < JOB_GIT_COUNT;
	for (uint32_t i = 0; ok && i < q->envc; i++)
		ok = strchr(q->env[i], '=') != NULL && q->env[i][0] != '=';
	for (uint32_t i = 0; ok && i < q->npull; i++)
		ok = path_check_rel(q->pull[i], strlen(q->pull[i])) == 0;
	if (!ok) {
		job_start_release(q);
		return -1;
	}
	return 0;
}

int job_ids_encode(const uint32_t *ids, uint32_t n, struct buf *out)
{
	int r = buf_put_u32(out, n);
	for (uint32_t i = 0; i < n; i++)
		r |= buf_put_u32(out, ids[i]);
	return r ? -1 : 0;
}

uint32_t *job_ids_decode(struct rd *r, uint32_t *n)
{
	uint32_t k = rd_u32(r);
	*n = 0;
	if (!rd_ok(r) || k > JOB_IDS_MAX || k > rd_left(r) / 4) {
		rd_fail(r);
		return NULL;
	}
	uint32_t *v = xcalloc((size_t)k + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < k; i++) {
		v[i] = rd_u32(r);
		if (v[i] == 0 || v[i] >= JOB_ID_MAX)
			rd_fail(r);
	}
	*n = k;
	return v;
}

int job_logs_encode(const struct job_logs_req *q, struct buf *out)
{
	int r = buf_put_u32(out, q->id);
	r |= buf_put_u32(out, q->tail);
	r |= buf_put_u8(out, q->flags);
	if (q->flags & JOB_LOGS_FROM)
		r |= buf_put_u64(out, q->from);
	return r;
}

int job_logs_decode(struct rd *r, struct job_logs_req *q)
{
	memset(q, 0, sizeof(*q));
	q->id = rd_u32(r);
	q->tail = rd_u32(r);
	q->flags = rd_u8(r);
	if (q->flags & ~JOB_LOGS_ALL)
		rd_fail(r);
	if (rd_ok(r) && (q->flags & JOB_LOGS_FROM))
		q->from = rd_u64(r);
	rd_expect_end(r);
	return rd_ok(r) ? 0 : -1;
}
