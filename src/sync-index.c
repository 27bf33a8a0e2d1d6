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
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fsx.h"
#include "limits.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

#define INDEX_MAGIC	0x46495831u	/* "FIX1" */
#define INDEX_ENTRY_MIN	(2 + 1 + 2 + 3 * 8 + INDEX_HASH_LEN)	/* encoded: a 1-byte path and its NUL */

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

void index_reserve(struct index *ix, size_t n, size_t path_bytes)
{
	if (n > INDEX_ENTRIES_MAX)
		n = INDEX_ENTRIES_MAX;
	if (n > ix->cap) {
		ix->e = xrealloc(ix->e, n * sizeof(*ix->e));
		ix->cap = n;
	}
	(void)buf_space(&ix->paths, path_bytes);
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
	return index_append_n(ix, path, strlen(path), err);
}

struct index_entry *index_append_n(struct index *ix, const char *path, size_t len, int *err)
{
	*err = 0;
	if (path_check_rel(path, len) < 0) {
		*err = -EINVAL;
		return NULL;
	}
	if (ix->n >= INDEX_ENTRIES_MAX) {
		*err = -E2BIG;
		return NULL;
	}
	size_t off = ix->paths.len;
	uint8_t *p = off > UINT32_MAX - len - 1 ? NULL : buf_space(&ix->paths, len + 1);
	if (p == NULL) {
		*err = -E2BIG;
		return NULL;
	}
	memcpy(p, path, len);
	p[len] = '\0';
	/* In order after the last one (compared in place, NUL-terminated). */
	if (ix->n && path_cmp(index_path(ix, &ix->e[ix->n - 1]), (const char *)p) >= 0) {
		*err = -EINVAL;
		return NULL;
	}
	buf_commit(&ix->paths, len + 1);
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22	/* Linux 5.14; older headers lack the name */
#endif

/* A window of a file mapping with its page tables filled at once (page
 * faults one at a time cost a third of a 100k-entry load); where the
 * kernel cannot (before 5.14), the pages fault in as they are read. */
static void populate(const void *p, size_t from, size_t to, size_t n)
{
	if (to > n)
		to = n;
	if (from < to)
		(void)madvise((uint8_t *)(uintptr_t)p + from, to - from, MADV_POPULATE_READ);
}

/* window: p is a private file mapping (decode_file), filled
 * INDEX_DROP_EVERY bytes ahead and given back as decoding passes: the
 * file's bytes and the index decoded from them are not in memory whole
 * at once (a 100k-entry cache is ~6 MB of file: the peak of a no-op
 * push was both). */
static int decode(const void *p, size_t n, struct index *ix, bool window)
{
	struct rd r;
	size_t dropped = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	if (window)
		populate(p, 0, 2 * INDEX_DROP_EVERY, n);
	index_init(ix);
	rd_init(&r, p, n);
	if (rd_u32(&r) != INDEX_MAGIC)
		rd_fail(&r);
	ix->written_ns = rd_u64(&r);
	uint32_t count = rd_u32(&r);
	if (count > INDEX_ENTRIES_MAX)
		rd_fail(&r);
	/* An entry takes at least INDEX_ENTRY_MIN bytes: a count the bytes
	 * cannot hold reserves no more than they can. */
	else
		index_reserve(ix, count < n / INDEX_ENTRY_MIN ? count : n / INDEX_ENTRY_MIN, n);
	for (uint32_t i = 0; i < count && rd_ok(&r); i++) {
		size_t plen = 0;
		const char *path = (const char *)rd_str(&r, PATH_REL_MAX, &plen);
		uint8_t type = rd_u8(&r);
		uint16_t mode = rd_u16(&r);
		uint64_t size = rd_u64(&r), mtime = rd_u64(&r), ino = rd_u64(&r);
		const uint8_t *h = rd_bytes(&r, INDEX_HASH_LEN);
		int err;
		struct index_entry *e = NULL;
		/* Copied once, straight from the file's bytes (a NUL inside
		 * fails path_check_rel). */
		if (rd_ok(&r) && path && type <= 3 && !(mode & ~07777u))
			e = index_append_n(ix, path, plen, &err);
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
		if (window && r.off - dropped >= INDEX_DROP_EVERY) {
			size_t to = r.off / page * page;
			(void)madvise((uint8_t *)(uintptr_t)p + dropped, to - dropped, MADV_DONTNEED);
			populate(p, dropped + 2 * INDEX_DROP_EVERY, to + 2 * INDEX_DROP_EVERY, n);
			dropped = to;
		}
	}
	rd_expect_end(&r);
	if (!rd_ok(&r)) {
		index_release(ix);
		index_init(ix);
		return -1;
	}
	/* Entries racily clean when the file was written stay untrusted
	 * whatever later log groups say of the time. */
	ix->gen = ix->written_ns;
	for (size_t i = 0; i < ix->n; i++)
		ix->e[i].racy = index_entry_racy(ix, &ix->e[i]);
	/* Held for a whole sync, beside the manifest: no growth slack. */
	if (ix->cap > ix->n && ix->n) {
		ix->e = xrealloc(ix->e, ix->n * sizeof(*ix->e));
		ix->cap = ix->n;
	}
	return 0;
}

int index_decode(const void *p, size_t n, struct index *ix)
{
	return decode(p, n, ix, false);
}

static char *log_path(const char *file)
{
	return xasprintf("%s.log", file);
}

/* The index file mapped, not read: no copy of its bytes and no fresh
 * buffer to fault in (a third of a 100k-entry load).  It is only ever
 * replaced by a rename, never truncated in place, so the mapping cannot
 * lose pages under us. */
static int decode_file(const char *file, struct index *ix, size_t *len)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	index_init(ix);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > INDEX_FILE_MAX) {
		close(fd);
		return -EBADMSG;
	}
	*len = (size_t)st.st_size;
	void *p = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (p == MAP_FAILED)
		return -EBADMSG;
	int r = decode(p, *len, ix, true) < 0 ? -EBADMSG : 0;
	munmap(p, *len);
	return r;
}

int index_load(const char *file, struct index *ix)
{
	char *data;
	size_t len;
	int r = decode_file(file, ix, &len);
	if (r < 0)
		return r;
	ix->file_bytes = len;
	char *lf = log_path(file);
	if (read_file(lf, INDEX_FILE_MAX, &data, &len) == 0) {
		if (index_log_merge(ix, ix->gen, data, len) < 0) {
			index_release(ix);
			index_init(ix);
			r = -EBADMSG;
		}
		free(data);
	}
	free(lf);
	return r;
}

int index_writer_open(struct index_writer *w, const char *file, uint64_t written_ns, uint32_t count)
{
	memset(w, 0, sizeof(*w));
	int r = atomic_out_open(&w->o, file, 0600);
	if (r < 0)
		return r;
	buf_init(&w->b, 2 * INDEX_WRITE_PIECE + PATH_REL_MAX + 64);
	w->r = index_encode_head(&w->b, written_ns, count) < 0 ? -E2BIG : 0;
	return 0;
}

static void writer_flush(struct index_writer *w)
{
	w->total += w->b.len;
	if (w->r == 0 && w->total > INDEX_FILE_MAX)
		w->r = -E2BIG;
	if (w->r == 0)
		atomic_out_write(&w->o, w->b.data, w->b.len);
	buf_reset(&w->b);
}

void index_writer_put(struct index_writer *w, const char *path, const struct index_entry *e)
{
	if (w->r == 0 && index_encode_entry(&w->b, path, e) < 0)
		w->r = -E2BIG;
	if (w->b.len >= INDEX_WRITE_PIECE)
		writer_flush(w);
}

int index_writer_commit(struct index_writer *w, bool durable)
{
	writer_flush(w);
	buf_release(&w->b);
	if (w->r < 0) {
		atomic_out_abort(&w->o);
		return w->r;
	}
	return atomic_out_commit(&w->o, durable);
}

int index_save(const char *file, struct index *ix)
{
	struct index_writer w;
	ix->written_ns = now_wall_ns();
	int r = index_writer_open(&w, file, ix->written_ns, (uint32_t)ix->n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ix->n; i++)
		index_writer_put(&w, index_path(ix, &ix->e[i]), &ix->e[i]);
	r = index_writer_commit(&w, true);
	if (r == 0)
		index_drop_log(file);
	return r;
}

void index_drop_log(const char *file)
{
	/* Its groups name the old generation: ignored even if this unlink
	 * is lost to a crash. */
	char *lf = log_path(file);
	(void)unlink(lf);
	free(lf);
}

bool index_entry_racy(const struct index *ix, const struct index_entry *e)
{
	return e->type != ENT_DIR && (e->racy || e->mtime_ns + INDEX_RACY_NS >= ix->written_ns);
}

bool index_stat_clean(const struct index *ix, const struct index_entry *e, uint64_t size,
		      uint64_t mtime_ns, uint64_t ino, uint16_t mode)
{
	if (e->size != size || e->mtime_ns != mtime_ns || e->ino != ino || e->mode != mode || e->racy)
		return false;
	/* Racily clean: changed again in the same timestamp tick as the
	 * write we recorded, the stat would look the same. */
	return mtime_ns + INDEX_RACY_NS < ix->written_ns;
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

struct jrec {
	char *path;
	struct index_entry e;
	size_t seq;
	uint64_t when;		/* its log group's time; 0 for the journal */
	bool del;
};

static int jrec_cmp(const void *a, const void *b)
{
	const struct jrec *x = a, *y = b;
	int c = path_cmp(x->path, y->path);
	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* An entry's fields after its path, as the journal and the log write them. */
static int put_fields(struct buf *b, const struct index_entry *e)
{
	int r = buf_put_u8(b, e->type);
	r |= buf_put_u16(b, e->mode);
	r |= buf_put_u64(b, e->size);
	r |= buf_put_u64(b, e->mtime_ns);
	r |= buf_put_u64(b, e->ino);
	r |= buf_put(b, e->hash, INDEX_HASH_LEN);
	return r;
}

static bool get_fields(struct rd *b, struct index_entry *e)
{
	e->type = rd_u8(b);
	e->mode = rd_u16(b);
	e->size = rd_u64(b);
	e->mtime_ns = rd_u64(b);
	e->ino = rd_u64(b);
	const uint8_t *h = rd_bytes(b, INDEX_HASH_LEN);
	if (!rd_ok(b) || e->type > 3 || (e->mode & ~07777u))
		return false;
	memcpy(e->hash, h, INDEX_HASH_LEN);
	return true;
}

int index_journal_record(struct buf *out, const char *path, const struct index_entry *e)
{
	struct buf rec;
	buf_init(&rec, PATH_REL_MAX + 64);
	int r = buf_put_cstr(&rec, path);
	r |= put_fields(&rec, e);
	if (r == 0)
		r = buf_put_str(out, rec.data, rec.len);
	buf_release(&rec);
	return r ? -1 : 0;
}

static void take_rec(struct index_entry *x, const struct jrec *r)
{
	uint32_t off = x->path_off;
	*x = r->e;
	x->path_off = off;
	if (r->when)
		x->racy = x->type != ENT_DIR && x->mtime_ns + INDEX_RACY_NS >= r->when;
}

/* v (nv records, in any order; the last of a path wins) on top of ix.
 * A record's when: its group's time for the racy rule, 0 to keep the
 * flag it has.  Records that only replace entries ix has (files edited,
 * the common case) are written in place; others rebuild ix once. */
static void merge_recs(struct index *ix, struct jrec *v, size_t nv)
{
	if (nv == 0)
		return;
	qsort(v, nv, sizeof(*v), jrec_cmp);
	size_t m = 0;
	for (size_t k = 0; k < nv; k++) {
		if (m && path_cmp(v[m - 1].path, v[k].path) == 0) {
			free(v[m - 1].path);
			v[m - 1] = v[k];
		} else {
			v[m++] = v[k];
		}
		if (k >= m)
			v[k].path = NULL;
	}
	bool inplace = true;
	for (size_t k = 0; k < m && inplace; k++)
		inplace = !v[k].del && index_find(ix, v[k].path) != NULL;
	if (inplace) {
		for (size_t k = 0; k < m; k++)
			take_rec((struct index_entry *)index_find(ix, v[k].path), &v[k]);
		return;
	}
	struct index nx;
	index_init(&nx);
	nx.written_ns = ix->written_ns;
	nx.gen = ix->gen;
	nx.file_bytes = ix->file_bytes;
	nx.log_bytes = ix->log_bytes;
	size_t i = 0, k = 0;
	int err;
	while (i < ix->n || k < m) {
		const char *ip = i < ix->n ? index_path(ix, &ix->e[i]) : NULL;
		int c = k >= m ? -1 : ip == NULL ? 1 : path_cmp(ip, v[k].path);
		if (c < 0) {
			struct index_entry *x = index_append(&nx, ip, &err);
			if (x != NULL) {
				uint32_t off = x->path_off;
				*x = ix->e[i];
				x->path_off = off;
			}
		} else if (!v[k].del) {
			struct index_entry *x = index_append(&nx, v[k].path, &err);
			if (x != NULL)
				take_rec(x, &v[k]);
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			k++;
	}
	index_release(ix);
	*ix = nx;
}

static void free_recs(struct jrec *v, size_t nv)
{
	for (size_t q = 0; q < nv; q++)
		free(v[q].path);
	free(v);
}

int index_journal_merge(struct index *ix, const void *p, size_t n)
{
	struct rd r;
	struct jrec *v = NULL;
	size_t nv = 0;

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
		bool ok = get_fields(&b, &j.e);
		rd_expect_end(&b);
		if (!ok || !rd_ok(&b) || path_check_rel(j.path, strlen(j.path)) < 0 || nv >= INDEX_ENTRIES_MAX) {
			free(j.path);
			free_recs(v, nv);
			return -1;
		}
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv++] = j;
	}
	merge_recs(ix, v, nv);
	free_recs(v, nv);
	return 0;
}

enum { LOG_PUT = 1, LOG_DEL = 2, LOG_COMMIT = 3 };
#define LOG_REC_MAX	(PATH_REL_MAX + 64)

int index_log_put(struct buf *out, const char *path, const struct index_entry *e)
{
	struct buf rec;
	buf_init(&rec, LOG_REC_MAX);
	int r = buf_put_u8(&rec, e ? LOG_PUT : LOG_DEL);
	r |= buf_put_cstr(&rec, path);
	if (e)
		r |= put_fields(&rec, e);
	if (r == 0)
		r = buf_put_str(out, rec.data, rec.len);
	buf_release(&rec);
	return r ? -1 : 0;
}

int index_log_merge(struct index *ix, uint64_t gen, const void *p, size_t n)
{
	struct rd r;
	struct jrec *v = NULL;
	size_t nv = 0, committed = 0, good = 0;
	uint64_t last = 0;
	int ret = 0;

	/* Records of committed groups of this generation are gathered, then
	 * merged once; a group's records are dropped if it is of another
	 * generation, and left out if it never committed. */
	rd_init(&r, p, n);
	while (rd_left(&r) >= 4) {
		size_t len;
		const uint8_t *body = rd_str(&r, LOG_REC_MAX, &len);
		if (body == NULL)
			break;		/* torn tail: that group never committed */
		struct rd b;
		rd_init(&b, body, len);
		uint8_t kind = rd_u8(&b);
		if (kind == LOG_COMMIT) {
			uint64_t g = rd_u64(&b), when = rd_u64(&b);
			uint32_t count = rd_u32(&b);
			rd_expect_end(&b);
			if (!rd_ok(&b) || count != nv - committed) {
				ret = -1;
				break;
			}
			if (g == gen) {
				for (size_t q = committed; q < nv; q++)
					v[q].when = when ? when : 1;
				committed = nv;
				if (when > last)
					last = when;
			} else {
				for (size_t q = committed; q < nv; q++)
					free(v[q].path);
				nv = committed;
			}
			good = n - rd_left(&r);
			continue;
		}
		struct jrec j = { .seq = nv, .del = kind == LOG_DEL };
		j.path = rd_cstr(&b, PATH_REL_MAX);
		bool ok = kind == LOG_DEL || (kind == LOG_PUT && get_fields(&b, &j.e));
		rd_expect_end(&b);
		if (!ok || !rd_ok(&b) || path_check_rel(j.path, strlen(j.path)) < 0 || nv >= INDEX_ENTRIES_MAX) {
			free(j.path);
			ret = -1;
			break;
		}
		v = xrealloc(v, (nv + 1) * sizeof(*v));
		v[nv++] = j;
	}
	if (ret == 0) {
		merge_recs(ix, v, committed);
		if (last > ix->written_ns)
			ix->written_ns = last;
		ix->log_bytes = good;
	}
	free_recs(v, nv);
	return ret;
}

int index_log_commit(const char *file, const struct index *disk, const struct buf *recs, uint32_t nrec,
		     bool durable)
{
	if (disk->gen == 0)
		return 1;
	size_t bound = disk->file_bytes / 4 > INDEX_LOG_MIN ? disk->file_bytes / 4 : INDEX_LOG_MIN;
	if (disk->log_bytes + recs->len + 64 > bound)
		return 1;
	struct buf c;
	buf_init(&c, 64);
	int r = buf_put_u8(&c, LOG_COMMIT);
	r |= buf_put_u64(&c, disk->gen);
	r |= buf_put_u64(&c, now_wall_ns());
	r |= buf_put_u32(&c, nrec);
	struct buf commit;
	buf_init(&commit, 128);
	r |= buf_put_str(&commit, c.data, c.len);
	buf_release(&c);
	char *lf = log_path(file);
	int fd = r ? -1 : open(lf, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(lf);
	if (fd < 0) {
		buf_release(&commit);
		return r ? 1 : -errno;
	}
	/* After the last group that committed: a torn group from a writer
	 * that died is cut off, not built upon.  The records, then their
	 * commit: a group cut between the two is ignored when read. */
	if (ftruncate(fd, (off_t)disk->log_bytes) < 0 || lseek(fd, (off_t)disk->log_bytes, SEEK_SET) < 0)
		r = -errno;
	else if ((r = write_all(fd, recs->data, recs->len)) == 0 && (r = write_all(fd, commit.data, commit.len)) == 0 &&
		 durable && fdatasync(fd) < 0)
		r = -errno;
	if (r < 0)
		(void)ftruncate(fd, (off_t)disk->log_bytes);
	close(fd);
	buf_release(&commit);
	return r;
}

bool index_entry_differs(const struct index *disk, const struct index_entry *old, const struct index_entry *nw)
{
	bool same = old->type == nw->type && old->mode == nw->mode && old->size == nw->size &&
		    old->mtime_ns == nw->mtime_ns && old->ino == nw->ino &&
		    memcmp(old->hash, nw->hash, INDEX_HASH_LEN) == 0;
	/* A racy entry is logged again: the group's later time is what
	 * makes it trusted. */
	return !same || index_entry_racy(disk, old);
}

int index_commit(const char *file, const struct index *disk, struct index *nx, bool durable)
{
	if (disk == NULL || disk->gen == 0)
		return index_save(file, nx);
	struct buf recs;
	buf_init(&recs, INDEX_FILE_MAX);
	uint32_t nrec = 0;
	size_t i = 0, k = 0;
	int r = 0;
	while ((i < disk->n || k < nx->n) && r == 0) {
		const char *dp = i < disk->n ? index_path(disk, &disk->e[i]) : NULL;
		const char *np = k < nx->n ? index_path(nx, &nx->e[k]) : NULL;
		int c = np == NULL ? -1 : dp == NULL ? 1 : path_cmp(dp, np);
		if (c != 0 || index_entry_differs(disk, &disk->e[i], &nx->e[k])) {
			if (index_log_put(&recs, c < 0 ? dp : np, c < 0 ? NULL : &nx->e[k]) < 0)
				r = 1;
			nrec++;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			k++;
		if (recs.len > INDEX_FILE_MAX / 2)
			r = 1;
	}
	if (r == 0 && nrec > 0)
		r = index_log_commit(file, disk, &recs, nrec, durable);
	buf_release(&recs);
	return r == 1 ? index_save(file, nx) : r;
}
