/*
 * sync-index.c - the sync index: codec, lookup, the racy-clean rule, and
 * content hashing (XXH3-128, header-only xxHash).
 *
 * Memory: one array of fixed-size entries plus one buffer of paths, so an
 * entry costs sizeof(struct index_entry) (56 bytes) and its path.
 * Decoding never trusts a count: entries are appended as they are read,
 * and each must come in order after the previous one.
 */
#define _GNU_SOURCE
#include "sync-index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fsx.h"
#include "limits.h"
#include "sync-scan.h"
#include "util.h"

#define INDEX_MAGIC	0x46495831u	/* "FIX1" */

void index_init(struct index *ix)
{
	memset(ix, 0, sizeof(*ix));
	buf_init(&ix->paths, INDEX_PATHS_MAX);
}

void index_release(struct index *ix)
{
	if (ix == NULL)
		return;
	free(ix->e);
	buf_release(&ix->paths);
	memset(ix, 0, sizeof(*ix));
}

const char *index_path(const struct index *ix, const struct index_entry *e)
{
	return (const char *)ix->paths.data + e->path_off;
}

int path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
	while (*x && *x == *y) {
		x++;
		y++;
	}
	/* '/' ends a component: it sorts before every other byte. */
	int cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
	int cy = *y == '/' ? 1 : *y ? *y + 1 : 0;
	return cx - cy;
}

struct index_entry *index_append(struct index *ix, const char *path, int *err)
{
	size_t len = strlen(path);
	*err = 0;
	if (path_check_rel(path, len) < 0 ||
	    (ix->n && path_cmp(index_path(ix, &ix->e[ix->n - 1]), path) >= 0)) {
		*err = -EINVAL;
		return NULL;
	}
	if (ix->n >= INDEX_ENTRIES_MAX) {
		*err = -E2BIG;
		return NULL;
	}
	size_t off = ix->paths.len;
	if (off > UINT32_MAX - len - 1 || buf_put(&ix->paths, path, len + 1) < 0) {
		*err = -E2BIG;
		return NULL;
	}
	if (ix->n == ix->cap) {
		ix->cap = ix->cap ? ix->cap * 2 : 256;
		ix->e = xrealloc(ix->e, ix->cap * sizeof(*ix->e));
	}
	struct index_entry *e = &ix->e[ix->n++];
	memset(e, 0, sizeof(*e));
	e->path_off = (uint32_t)off;
	return e;
}

const struct index_entry *index_find(const struct index *ix, const char *path)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(index_path(ix, &ix->e[mid]), path);
		if (c == 0)
			return &ix->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int index_encode_head(struct buf *out, uint64_t written_ns, uint32_t count)
{
	int r = buf_put_u32(out, INDEX_MAGIC);
	r |= buf_put_u64(out, written_ns);
	r |= buf_put_u32(out, count);
	return r ? -1 : 0;
}

int index_encode_entry(struct buf *out, const char *path, const struct index_entry *e)
{
	int r = buf_put_cstr(out, path);
	r |= buf_put_u8(out, e->type);
	r |= buf_put_u16(out, e->mode);
	r |= buf_put_u64(out, e->size);
	r |= buf_put_u64(out, e->mtime_ns);
	r |= buf_put_u64(out, e->ino);
	r |= buf_put(out, e->hash, INDEX_HASH_LEN);
	return r ? -1 : 0;
}

int index_encode(const struct index *ix, struct buf *out)
{
	int r = index_encode_head(out, ix->written_ns, (uint32_t)ix->n);
	for (size_t i = 0; i < ix->n && r == 0; i++)
		r = index_encode_entry(out, index_path(ix, &ix->e[i]), &ix->e[i]);
	return r ? -1 : 0;
}

int index_decode(const void *p, size_t n, struct index *ix)
{
	struct rd r;
	index_init(ix);
	rd_init(&r, p, n);
	if (rd_u32(&r) != INDEX_MAGIC)
		rd_fail(&r);
	ix->written_ns = rd_u64(&r);
	uint32_t count = rd_u32(&r);
	if (count > INDEX_ENTRIES_MAX)
		rd_fail(&r);
	for (uint32_t i = 0; i < count && rd_ok(&r); i++) {
		char *path = rd_cstr(&r, PATH_REL_MAX);
		uint8_t type = rd_u8(&r);
		uint16_t mode = rd_u16(&r);
		uint64_t size = rd_u64(&r), mtime = rd_u64(&r), ino = rd_u64(&r);
		const uint8_t *h = rd_bytes(&r, INDEX_HASH_LEN);
		int err;
		struct index_entry *e = NULL;
		if (rd_ok(&r) && type <= 3 && !(mode & ~07777u))
			e = index_append(ix, path, &err);
		free(path);
		if (e == NULL) {
			rd_fail(&r);
			break;
		}
		e->type = type;
		e->mode = mode;
		e->size = size;
		e->mtime_ns = mtime;
		e->ino = ino;
		memcpy(e->hash, h, INDEX_HASH_LEN);
	}
	rd_expect_end(&r);
	if (!rd_ok(&r)) {
		index_release(ix);
		index_init(ix);
		return -1;
	}
	/* Held for a whole sync, beside the manifest: no growth slack. */
	if (ix->cap > ix->n && ix->n) {
		ix->e = xrealloc(ix->e, ix->n * sizeof(*ix->e));
		ix->cap = ix->n;
	}
	return 0;
}

int index_load(const char *file, struct index *ix)
{
	char *data;
	size_t len;
	int r = read_file(file, INDEX_FILE_MAX, &data, &len);
	if (r < 0) {
		index_init(ix);
		return r;
	}
	r = index_decode(data, len, ix) < 0 ? -EBADMSG : 0;
	free(data);
	return r;
}

int index_save(const char *file, struct index *ix)
{
	struct buf b;
	buf_init(&b, INDEX_FILE_MAX);
	ix->written_ns = now_wall_ns();
	int r = index_encode(ix, &b) < 0 ? -E2BIG : write_file_atomic(file, b.data, b.len, 0600, 0);
	buf_release(&b);
	return r;
}

bool index_stat_clean(const struct index *ix, const struct index_entry *e, uint64_t size,
		      uint64_t mtime_ns, uint64_t ino, uint16_t mode)
{
	if (e->size != size || e->mtime_ns != mtime_ns || e->ino != ino || e->mode != mode)
		return false;
	/* Racily clean: changed again in the same timestamp tick as the
	 * write we recorded, the stat would look the same. */
	return mtime_ns + INDEX_RACY_NS < ix->written_ns;
}

bool index_same(const struct index *old, const struct index *nx)
{
	if (old->n != nx->n || old->written_ns == 0)
		return false;
	for (size_t i = 0; i < old->n; i++) {
		const struct index_entry *a = &old->e[i], *b = &nx->e[i];
		if (a->type != b->type || a->mode != b->mode || a->size != b->size || a->mtime_ns != b->mtime_ns ||
		    a->ino != b->ino || memcmp(a->hash, b->hash, INDEX_HASH_LEN) != 0 ||
		    strcmp(index_path(old, a), index_path(nx, b)) != 0)
			return false;
		if (a->type == ENT_FILE && a->mtime_ns + INDEX_RACY_NS >= old->written_ns)
			return false;
	}
	return true;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

void index_state_id(const struct index *ix, uint8_t out[INDEX_HASH_LEN])
{
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	for (size_t i = 0; i < ix->n; i++) {
		const struct index_entry *e = &ix->e[i];
		const char *path = index_path(ix, e);
		uint8_t rec[1 + 2 + 8 + 8 + INDEX_HASH_LEN], *p = rec;
		/* The path with its NUL: no two entry lists run together alike. */
		XXH3_128bits_update(&st, path, strlen(path) + 1);
		*p++ = e->type;
		if (e->type == ENT_FILE || e->type == ENT_DIR)
			p = put_be(p, e->mode, 2);
		if (e->type == ENT_FILE) {
			p = put_be(p, e->size, 8);
			p = put_be(p, e->mtime_ns, 8);
		}
		if (e->type != ENT_DIR) {
			memcpy(p, e->hash, INDEX_HASH_LEN);
			p += INDEX_HASH_LEN;
		}
		XXH3_128bits_update(&st, rec, (size_t)(p - rec));
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out, c.digest, INDEX_HASH_LEN);
}

void hash_bytes(const void *p, size_t n, uint8_t out[INDEX_HASH_LEN])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, INDEX_HASH_LEN);
}

int hash_fd(int fd, uint8_t out[INDEX_HASH_LEN])
{
	XXH3_state_t st;
	uint8_t b[HASH_CHUNK];
	XXH3_128bits_reset(&st);
	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(&st, b, (size_t)n);
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out, c.digest, INDEX_HASH_LEN);
	return 0;
}

int index_journal_record(struct buf *out, const char *path, const struct index_entry *e)
{
	struct buf rec;
	buf_init(&rec, PATH_REL_MAX + 64);
	int r = buf_put_cstr(&rec, path);
	r |= buf_put_u8(&rec, e->type);
	r |= buf_put_u16(&rec, e->mode);
	r |= buf_put_u64(&rec, e->size);
	r |= buf_put_u64(&rec, e->mtime_ns);
	r |= buf_put_u64(&rec, e->ino);
	r |= buf_put(&rec, e->hash, INDEX_HASH_LEN);
	if (r == 0)
		r = buf_put_str(out, rec.data, rec.len);
	buf_release(&rec);
	return r ? -1 : 0;
}

struct jrec {
	char *path;
	struct index_entry e;
	size_t seq;
};

static int jrec_cmp(const void *a, const void *b)
{
	const struct jrec *x = a, *y = b;
	int c = path_cmp(x->path, y->path);
	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

int index_journal_merge(struct index *ix, const void *p, size_t n)
{
	struct rd r;
	struct jrec *v = NULL;
	size_t nv = 0;
	int ret = 0;

	rd_init(&r, p, n);
	while (rd_left(&r) >= 4) {
		size_t len;
		const uint8_t *body = rd_str(&r, PATH_REL_MAX + 64, &len);
		if (body == NULL)
			break;		/* torn tail: the writer died mid-record */
		struct rd b;
		rd_init(&b, body, len);
		struct jrec j = { .seq = nv };
		j.path = rd_cstr(&b, PATH_REL_MAX);
		j.e.type = rd_u8(&b);
		j.e.mode = rd_u16(&b);
		j.e.size = rd_u64(&b);
		j.e.mtime_ns = rd_u64(&b);
		j.e.ino = rd_u64(&b);
		const uint8_t *h = rd_bytes(&b, INDEX_HASH_LEN);
		rd_expect_end(&b);
		if (!rd_ok(&b) || j.e.type > 3 || (j.e.mode & ~07777u) ||
		    path_check_rel(j.path, strlen(j.path)) < 0) {
			free(j.path);
			ret = -1;
			goto out;
		}
		memcpy(j.e.hash, h, INDEX_HASH_LEN);
		if (nv >= INDEX_ENTRIES_MAX) {
			free(j.path);
			ret = -1;
			goto out;
		}
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv++] = j;
	}
	if (nv == 0)
		goto out;
	qsort(v, nv, sizeof(*v), jrec_cmp);
	struct index nx;
	index_init(&nx);
	nx.written_ns = ix->written_ns;
	size_t i = 0, k = 0;
	int err;
	while (i < ix->n || k < nv) {
		/* The last record of a path wins. */
		while (k + 1 < nv && path_cmp(v[k].path, v[k + 1].path) == 0)
			k++;
		const char *ip = i < ix->n ? index_path(ix, &ix->e[i]) : NULL;
		int c = k >= nv ? -1 : ip == NULL ? 1 : path_cmp(ip, v[k].path);
		const struct index_entry *src = c < 0 ? &ix->e[i] : &v[k].e;
		const char *path = c < 0 ? ip : v[k].path;
		struct index_entry *x = index_append(&nx, path, &err);
		if (x != NULL) {
			uint32_t off = x->path_off;
			*x = *src;
			x->path_off = off;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			k++;
	}
	index_release(ix);
	*ix = nx;
out:
	for (size_t q = 0; q < nv; q++)
		free(v[q].path);
	free(v);
	return ret;
}
