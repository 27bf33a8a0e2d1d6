/*
 * sync-wire.c - codecs for the sync messages.
 */
#define _GNU_SOURCE
#include "sync-wire.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fsx.h"
#include "limits.h"
#include "proto.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

static bool path_ok(const char *p)
{
	return p != NULL && path_check_rel(p, strlen(p)) == 0;
}

int sync_begin_encode(const struct sync_begin *b, struct buf *out)
{
	int r = buf_put_u32(out, b->flags);
	r |= buf_put_cstr(out, b->root);
	r |= buf_put_u32(out, b->npull);
	for (uint32_t i = 0; i < b->npull; i++)
		r |= buf_put_cstr(out, b->pull[i]);
	r |= buf_put_u32(out, b->nignore);
	for (uint32_t i = 0; i < b->nignore; i++)
		r |= buf_put_cstr(out, b->ignore[i]);
	if (b->flags & SYNC_BASE_ID)
		r |= buf_put(out, b->base, INDEX_HASH_LEN);
	if (b->flags & SYNC_FORCE_PATHS) {
		r |= buf_put_u32(out, b->nforce);
		for (uint32_t i = 0; i < b->nforce; i++)
			r |= buf_put_cstr(out, b->force[i]);
	}
	return r ? -1 : 0;
}

void sync_begin_release(struct sync_begin *b)
{
	free(b->root);
	for (uint32_t i = 0; i < b->npull; i++)
		free(b->pull[i]);
	free(b->pull);
	for (uint32_t i = 0; i < b->nignore; i++)
		free(b->ignore[i]);
	free(b->ignore);
	for (uint32_t i = 0; i < b->nforce; i++)
		free(b->force[i]);
	free(b->force);
	memset(b, 0, sizeof(*b));
}

int sync_begin_decode(struct rd *r, struct sync_begin *b)
{
	memset(b, 0, sizeof(*b));
	b->flags = rd_u32(r);
	if (b->flags & ~SYNC_FLAGS_ALL)
		rd_fail(r);
	b->root = rd_cstr(r, PATH_REL_MAX);
	uint32_t n = rd_u32(r);
	if (n > CONFIG_LIST_MAX)
		rd_fail(r);
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		char *p = rd_cstr(r, PATH_REL_MAX);
		if (!path_ok(p)) {
			free(p);
			rd_fail(r);
			break;
		}
		b->pull = xrealloc(b->pull, (b->npull + 1) * sizeof(char *));
		b->pull[b->npull++] = p;
	}
	n = rd_u32(r);
	if (n > CONFIG_LIST_MAX)
		rd_fail(r);
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		char *p = rd_cstr(r, IGNORE_PATTERN_MAX);
		if (p == NULL)
			break;
		b->ignore = xrealloc(b->ignore, (b->nignore + 1) * sizeof(char *));
		b->ignore[b->nignore++] = p;
	}
	if (b->flags & SYNC_BASE_ID) {
		const uint8_t *h = rd_bytes(r, INDEX_HASH_LEN);
		if (h)
			memcpy(b->base, h, INDEX_HASH_LEN);
	}
	if (b->flags & SYNC_FORCE_PATHS) {
		n = rd_u32(r);
		if (n > SYNC_FORCE_PATHS_MAX)
			rd_fail(r);
		for (uint32_t i = 0; i < n && rd_ok(r); i++) {
			char *p = rd_cstr(r, PATH_REL_MAX);
			if (!path_ok(p)) {
				free(p);
				rd_fail(r);
				break;
			}
			b->force = xrealloc(b->force, (b->nforce + 1) * sizeof(char *));
			b->force[b->nforce++] = p;
		}
	}
	rd_expect_end(r);
	if (!rd_ok(r) || b->root == NULL) {
		sync_begin_release(b);
		return -1;
	}
	return 0;
}

int sync_entry_encode(const struct sync_entry *e, struct buf *out)
{
	int r = buf_put_u8(out, e->type);
	r |= buf_put_u16(out, e->mode);
	r |= buf_put_u64(out, e->size);
	r |= buf_put_u64(out, e->mtime_ns);
	r |= buf_put(out, e->hash, INDEX_HASH_LEN);
	r |= buf_put_cstr(out, e->path);
	r |= buf_put_cstr(out, sync_entry_link(e));
	return r ? -1 : 0;
}

const char *sync_entry_link(const struct sync_entry *e)
{
	return e->type == ENT_LINK ? e->path + strlen(e->path) + 1 : "";
}

void sync_entry_release(struct sync_entry *e)
{
	free(e->path);
	memset(e, 0, sizeof(*e));
}

int sync_entry_decode(struct rd *r, struct sync_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->type = rd_u8(r);
	e->mode = rd_u16(r);
	e->size = rd_u64(r);
	e->mtime_ns = rd_u64(r);
	const uint8_t *h = rd_bytes(r, INDEX_HASH_LEN);
	if (h)
		memcpy(e->hash, h, INDEX_HASH_LEN);
	size_t plen = 0, llen = 0;
	const uint8_t *path = rd_str(r, PATH_REL_MAX, &plen);
	const uint8_t *link = rd_str(r, PATH_REL_MAX, &llen);
	rd_expect_end(r);
	/* Types: 0 file, 1 dir, 2 symlink; a target only for a symlink;
	 * no NUL inside either string. */
	if (!rd_ok(r) || path == NULL || link == NULL || memchr(path, '\0', plen) || memchr(link, '\0', llen) ||
	    e->type > 2 || (e->mode & ~07777u) || (e->type == ENT_LINK) != (llen > 0)) {
		memset(e, 0, sizeof(*e));
		return -1;
	}
	/* The path, then the target after its NUL (sync_entry_link). */
	e->path = xmalloc(plen + 1 + llen + 1);
	memcpy(e->path, path, plen);
	e->path[plen] = '\0';
	memcpy(e->path + plen + 1, link, llen);
	e->path[plen + 1 + llen] = '\0';
	if (!path_ok(e->path)) {
		sync_entry_release(e);
		return -1;
	}
	return 0;
}

int sync_report_encode(uint32_t code, const char *path, const char *msg, struct buf *out)
{
	int r = buf_put_u32(out, code);
	r |= buf_put_str(out, path, strnlen(path, PATH_REL_MAX));
	r |= buf_put_str(out, msg, strnlen(msg, 1024));
	return r ? -1 : 0;
}

int sync_report_decode(struct rd *r, uint32_t *code, char **path, char **msg)
{
	*code = rd_u32(r);
	*path = rd_cstr(r, PATH_REL_MAX);
	*msg = rd_cstr(r, 1024);
	rd_expect_end(r);
	if (!rd_ok(r) || *path == NULL || *msg == NULL) {
		free(*path);
		free(*msg);
		*path = *msg = NULL;
		return -1;
	}
	return 0;
}

int sync_plan_end_encode(const struct sync_plan_end *p, struct buf *out)
{
	int r = buf_put_u32(out, p->need);
	r |= buf_put_u32(out, p->conflicts);
	r |= buf_put_u32(out, p->deletes);
	r |= buf_put_u8(out, p->guard);
	r |= buf_put_u32(out, p->indexed);
	return r ? -1 : 0;
}

int sync_plan_end_decode(struct rd *r, struct sync_plan_end *p)
{
	p->need = rd_u32(r);
	p->conflicts = rd_u32(r);
	p->deletes = rd_u32(r);
	p->guard = rd_u8(r);
	p->indexed = rd_u32(r);
	rd_expect_end(r);
	return rd_ok(r) && p->guard <= 1 ? 0 : -1;
}

int sync_done_encode(const struct sync_done *d, struct buf *out)
{
	int r = buf_put_u32(out, d->written);
	r |= buf_put_u32(out, d->deleted);
	r |= buf_put_u32(out, d->conflicts);
	r |= buf_put_u32(out, d->errors);
	r |= buf_put_u64(out, d->bytes);
	return r ? -1 : 0;
}

int sync_done_decode(struct rd *r, struct sync_done *d)
{
	d->written = rd_u32(r);
	d->deleted = rd_u32(r);
	d->conflicts = rd_u32(r);
	d->errors = rd_u32(r);
	d->bytes = rd_u64(r);
	rd_expect_end(r);
	return rd_ok(r) ? 0 : -1;
}

int sync_drop_encode(const char *path, struct buf *out)
{
	return buf_put_cstr(out, path) ? -1 : 0;
}

int sync_drop_decode(struct rd *r, char **path)
{
	*path = rd_cstr(r, PATH_REL_MAX);
	rd_expect_end(r);
	if (!rd_ok(r) || !path_ok(*path)) {
		free(*path);
		*path = NULL;
		return -1;
	}
	return 0;
}

void path_sample_add(struct path_sample *s, const char *path)
{
	if (s->count == UINT32_MAX)
		return;
	s->count++;
	if (s->n < SYNC_NAMES_SHOWN)
		s->v[s->n++] = xstrdup(path);
}

char *path_sample_text(const struct path_sample *s)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	for (uint32_t i = 0; i < s->n; i++) {
		buf_put(&b, ", ", i ? 2 : 0);
		buf_put(&b, s->v[i], strlen(s->v[i]));
	}
	if (s->count > s->n) {
		char *more = xasprintf(" and %u more", s->count - s->n);
		buf_put(&b, more, strlen(more));
		free(more);
	}
	buf_put(&b, "", 1);
	char *r = xstrdup((const char *)b.data);
	buf_release(&b);
	return r;
}

void path_sample_release(struct path_sample *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(s->v[i]);
	memset(s, 0, sizeof(*s));
}

int sync_skipped_encode(const struct sync_skipped *k, struct buf *out)
{
	int r = buf_put_u32(out, k->paths.count) | buf_put_u8(out, k->all_files) | buf_put_u32(out, k->paths.n);
	for (uint32_t i = 0; i < k->paths.n; i++)
		r |= buf_put_cstr(out, k->paths.v[i]);
	return r ? -1 : 0;
}

int sync_skipped_decode(struct rd *r, struct sync_skipped *k)
{
	memset(k, 0, sizeof(*k));
	uint32_t count = rd_u32(r);
	uint8_t all = rd_u8(r);
	uint32_t n = rd_u32(r);
	k->all_files = all == 1;
	if (!rd_ok(r) || all > 1 || n > SYNC_NAMES_SHOWN || n > count)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		/* A folder's name ends in '/': checked without it. */
		char *p = rd_cstr(r, PATH_REL_MAX + 1);
		if (p == NULL)
			break;
		k->paths.v[k->paths.n++] = p;
		size_t l = strlen(p);
		if (l > 1 && p[l - 1] == '/')
			l--;
		if (path_check_rel(p, l) < 0) {
			sync_skipped_release(k);
			return -1;
		}
	}
	rd_expect_end(r);
	if (!rd_ok(r) || k->paths.n != n) {
		sync_skipped_release(k);
		return -1;
	}
	k->paths.count = count;
	return 0;
}

void sync_skipped_release(struct sync_skipped *k)
{
	path_sample_release(&k->paths);
}

int sync_base_decode(struct rd *r, bool *match)
{
	uint8_t m = rd_u8(r);
	rd_expect_end(r);
	*match = m == 1;
	return rd_ok(r) && m <= 1 ? 0 : -1;
}

void sync_ping_encode(uint64_t t, struct buf *b)
{
	buf_put_u64(b, t);
}

int sync_ping_decode(struct rd *r, uint64_t *t)
{
	*t = rd_u64(r);
	rd_expect_end(r);
	return rd_ok(r) ? 0 : -1;
}

int sync_batch_unpack(const uint8_t *p, size_t n, uint8_t **out, size_t *len)
{
	unsigned long long sz = ZSTD_getFrameContentSize(p, n);
	if (sz == ZSTD_CONTENTSIZE_UNKNOWN || sz == ZSTD_CONTENTSIZE_ERROR || sz == 0 || sz > MANIFEST_BATCH_MAX)
		return -1;
	/* One frame, nothing after it (and no skippable frame: size 0). */
	size_t fs = ZSTD_findFrameCompressedSize(p, n);
	if (ZSTD_isError(fs) || fs != n)
		return -1;
	uint8_t *b = xmalloc((size_t)sz);
	size_t r = ZSTD_decompress(b, (size_t)sz, p, n);
	if (ZSTD_isError(r) || r != sz) {
		free(b);
		return -1;
	}
	*out = b;
	*len = (size_t)sz;
	return 0;
}

int sync_batch_next(struct rd *r, uint16_t *type, struct rd *body)
{
	if (rd_left(r) == 0)
		return 0;
	const uint8_t *h = rd_bytes(r, FRAME_HDR_LEN);
	uint32_t n;
	uint16_t t;
	if (h == NULL || frame_header(h, &n, &t) < 0 || n == 0 || n > rd_left(r) ||
	    (t != MSG_SYNC_ENTRY && t != MSG_SYNC_DROP))
		return -1;
	rd_init(body, rd_bytes(r, n), n);
	*type = t;
	return 1;
}
