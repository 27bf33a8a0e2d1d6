/*
 * sync-source.c - manifest entries with their hashes, and file streaming
 * (sync-source.h).
 */
#define _GNU_SOURCE
#include "sync-source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "sync-apply.h"
#include "sync-dest.h"
#include "util.h"

#include "banned.h"

void source_init(struct source *s, int rootfd, const char *cache_file)
{
	memset(s, 0, sizeof(*s));
	s->rootfd = rootfd;
	s->sig_budget = DELTA_SIG_TOTAL_MAX;
	zpack_init(&s->z, false);
	index_init(&s->cache);
	atomic_init(&s->cache_ready, false);
	if (cache_file)
		source_load_cache(s, cache_file);
}

void source_load_cache(struct source *s, const char *cache_file)
{
	struct index ix;
	if (index_load(cache_file, &ix) < 0) {
		index_release(&ix);
		index_init(&ix);
	}
	index_release(&s->cache);
	s->cache = ix;
	/* Published: the walk's thread reads s->cache only after this. */
	atomic_store_explicit(&s->cache_ready, true, memory_order_release);
}

void source_release(struct source *s)
{
	for (size_t i = 0; i < s->n; i++) {
		/* Paths live in the arena or the cache. */
		if (s->sig && s->sig[i]) {
			delta_sig_release(s->sig[i]);
			free(s->sig[i]);
		}
	}
	free(s->e);
	free(s->ino);
	free(s->sig);
	for (size_t i = 0; i < s->narena; i++)
		free(s->arena[i]);
	free(s->arena);
	zpack_release(&s->z);
	index_release(&s->cache);
	memset(s, 0, sizeof(*s));
}

static void warn(struct source *s, const char *path, const char *msg)
{
	s->errors++;
	if (s->warn)
		s->warn(s->arg, path, msg);
}

/* Room for n bytes in the arena: one allocation per block, not per
 * entry (a 100k-file manifest saves ~16 bytes of malloc overhead a path). */
static char *arena_take(struct source *s, size_t n)
{
	/* n ≤ 2 * (PATH_REL_MAX + 1), far below a block. */
	if (s->narena == 0 || n > SOURCE_ARENA_BLOCK - s->arena_used) {
		s->arena = xrealloc(s->arena, (s->narena + 1) * sizeof(*s->arena));
		s->arena[s->narena++] = xmalloc(SOURCE_ARENA_BLOCK);
		s->arena_used = 0;
	}
	char *p = s->arena[s->narena - 1] + s->arena_used;
	s->arena_used += n;
	return p;
}

static char *arena_strdup(struct source *s, const char *path)
{
	size_t n = strlen(path) + 1;
	return memcpy(arena_take(s, n), path, n);
}

/* Gives back the arena's last n bytes when p is them (a pointer
 * elsewhere, into the cache, is left alone). */
static void arena_give_back(struct source *s, const char *p, size_t n)
{
	if (s->narena && n <= s->arena_used && p == s->arena[s->narena - 1] + s->arena_used - n)
		s->arena_used -= n;
}

/* A path the cache holds too: the entry uses the cache's copy (it lives
 * as long as the manifest), and its own goes back to the arena when it
 * is the last one there (the entry was resolved as soon as it was
 * added): a steady push holds each path once, not twice (~17 bytes a
 * file on the 100k-file tree). */
static void share_path(struct source *s, struct sync_entry *e, const char *cached)
{
	arena_give_back(s, e->path, strlen(e->path) + 1);
	e->path = (char *)cached;
}

/* A symlink's path with its target after the NUL (struct sync_entry
 * has no pointer of its own for it): in place when the path is the
 * arena's last, else a new copy (a block never moves, so the old bytes
 * stay readable while they are copied). */
static void with_link(struct source *s, struct sync_entry *e, const char *link)
{
	size_t pn = strlen(e->path) + 1, ln = strlen(link) + 1;
	arena_give_back(s, e->path, pn);
	char *p = arena_take(s, pn + ln);
	memmove(p, e->path, pn);
	memcpy(p + pn, link, ln);
	e->path = p;
}

/* Entry k (s->e[k], its inode s->ino[k]) against the cache: its hash
 * taken from the cache when its stat is clean, else read (or deferred).
 * false: unreadable (warned about), to be left out. */
static bool resolve(struct source *s, size_t k)
{
	struct sync_entry *e = &s->e[k];
	uint64_t ino = s->ino[k];

	/* The walk and the cache share one order: a cursor, not a search. */
	const struct index_entry *o = NULL;
	while (s->cache_cur < s->cache.n && path_cmp(index_path(&s->cache, &s->cache.e[s->cache_cur]), e->path) < 0)
		s->cache_cur++;
	if (s->cache_cur < s->cache.n && strcmp(index_path(&s->cache, &s->cache.e[s->cache_cur]), e->path) == 0) {
		o = &s->cache.e[s->cache_cur];
		share_path(s, e, index_path(&s->cache, o));
	}
	s->matched += o != NULL;
	bool same = o && o->type == e->type && o->mode == e->mode && o->size == e->size &&
		    o->mtime_ns == e->mtime_ns && o->ino == ino;
	if (e->type == ENT_FILE) {
		if (o && o->type == ENT_FILE && index_stat_clean(&s->cache, o, e->size, e->mtime_ns, ino, e->mode)) {
			memcpy(e->hash, o->hash, INDEX_HASH_LEN);
		} else if (s->defer_big && o && o->type == ENT_FILE && e->size >= SIG_HINT_MIN &&
			   s->ndeferred < SIG_HINT_MAX) {
			same = false;	/* hashed later: source_hash_deferred */
			s->deferred[s->ndeferred++] = k;
		} else {
			same = false;	/* racily clean, or changed */
			int r = apply_hash_file(s->rootfd, e->path, e->hash);
			if (r < 0) {
				warn(s, e->path, strerror(-r));
				return false;
			}
		}
	} else if (e->type == ENT_LINK) {
		char *link = apply_readlink(s->rootfd, e->path);
		if (link == NULL || link[0] == '\0') {
			warn(s, e->path, "cannot read the symlink");
			free(link);
			return false;
		}
		hash_bytes(link, strlen(link), e->hash);
		with_link(s, e, link);
		free(link);
		same = same && memcmp(o->hash, e->hash, INDEX_HASH_LEN) == 0;
	}
	s->same += same;
	return true;
}

/* The entries the walk added before the cache was loaded, resolved now
 * in order; those left out close up. */
static void catch_up(struct source *s)
{
	size_t w = s->resolved;
	for (size_t k = s->resolved; k < s->n; k++) {
		s->e[w] = s->e[k];
		s->ino[w] = s->ino[k];
		w += resolve(s, w);
	}
	s->n = s->resolved = w;
}

int source_add(const struct scan_entry *se, void *arg)
{
	struct source *s = arg;
	struct sync_entry e = { .type = (uint8_t)se->type, .mode = (uint16_t)se->mode,
				.size = se->size, .mtime_ns = se->mtime_ns };

	e.path = arena_strdup(s, se->path);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->e = xrealloc(s->e, s->cap * sizeof(*s->e));
		s->ino = xrealloc(s->ino, s->cap * sizeof(*s->ino));
	}
	s->ino[s->n] = se->ino;
	s->e[s->n++] = e;
	/* The cache may still be loading (source_load_cache, on another
	 * thread): the walk goes on, and what it found waits for it. */
	if (!s->have_cache) {
		if (!atomic_load_explicit(&s->cache_ready, memory_order_acquire))
			return 0;
		s->have_cache = true;
	}
	catch_up(s);
	return 0;
}

void source_scan_done(struct source *s)
{
	s->have_cache = true;
	catch_up(s);
}

void source_queue_hints(const struct source *s, struct conn *c)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	for (size_t k = 0; k < s->ndeferred; k++) {
		buf_reset(&b);
		if (sync_drop_encode(s->e[s->deferred[k]].path, &b) == 0)
			conn_queue(c, MSG_SYNC_HINT, b.data, b.len);
	}
	buf_release(&b);
}

void source_hash_deferred(struct source *s)
{
	bool gone[SIG_HINT_MAX] = { false }, any = false;
	for (size_t k = 0; k < s->ndeferred; k++) {
		struct sync_entry *e = &s->e[s->deferred[k]];
		int r = apply_hash_file(s->rootfd, e->path, e->hash);
		if (r < 0) {
			warn(s, e->path, strerror(-r));
			gone[k] = any = true;
		}
	}
	/* Left out of the manifest, as source_add leaves them. */
	if (any) {
		size_t w = 0, k = 0;
		for (size_t i = 0; i < s->n; i++) {
			bool drop = k < s->ndeferred && s->deferred[k] == i && gone[k];
			if (k < s->ndeferred && s->deferred[k] == i)
				k++;
			if (drop)
				continue;
			s->e[w] = s->e[i];
			s->ino[w++] = s->ino[i];
		}
		s->n = w;
	}
	s->ndeferred = 0;
}

static struct index_entry cache_entry(const struct source *s, size_t i)
{
	struct index_entry x = { .type = s->e[i].type, .mode = s->e[i].mode, .size = s->e[i].size,
				 .mtime_ns = s->e[i].mtime_ns, .ino = s->ino[i] };
	memcpy(x.hash, s->e[i].hash, INDEX_HASH_LEN);
	return x;
}

/* The manifest's differences from the cache as one log group: 0 when
 * committed, else the cache is to be rewritten. */
static int log_changes(const struct source *s, struct buf *recs, const char *file)
{
	const struct index *c = &s->cache;
	uint32_t nrec = 0;
	size_t i = 0, k = 0;
	if (c->gen == 0 || (s->n - s->same) + (c->n - s->same) > c->n / 8 + 16)
		return 1;
	while (i < c->n || k < s->n) {
		const char *cp = i < c->n ? index_path(c, &c->e[i]) : NULL;
		int o = k >= s->n ? -1 : cp == NULL ? 1 : path_cmp(cp, s->e[k].path);
		int r = 0;
		if (o < 0) {
			r = index_log_put(recs, cp, NULL);
			nrec++;
		} else {
			struct index_entry x = cache_entry(s, k);
			if (o > 0 || index_entry_differs(c, &c->e[i], &x)) {
				r = index_log_put(recs, s->e[k].path, &x);
				nrec++;
			}
		}
		if (r < 0)
			return 1;
		if (o <= 0)
			i++;
		if (o >= 0)
			k++;
	}
	return nrec == 0 ? 0 : index_log_commit(file, c, recs, nrec, false) == 0 ? 0 : 1;
}

void source_save_cache(const struct source *s, const char *file)
{
	/* Every entry as the cache has it, and nothing more: a no-op sync
	 * leaves the cache as it is (no write, no fsync). */
	if (s->same == s->n && s->n == s->cache.n && s->cache.written_ns)
		return;
	/* A few changes: a group in the cache's log (sync-index.h). */
	struct buf b;
	buf_init(&b, INDEX_FILE_MAX);
	int logged = log_changes(s, &b, file);
	buf_release(&b);
	if (logged == 0)
		return;
	/* Else written straight from the manifest (already in walk order,
	 * paths checked by the scan), a piece at a time: neither a second
	 * copy of it as an index nor its whole encoding in memory. */
	struct index_writer w;
	if (index_writer_open(&w, file, now_wall_ns(), (uint32_t)s->n) < 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct index_entry x = cache_entry(s, i);
		index_writer_put(&w, s->e[i].path, &x);
	}
	if (index_writer_commit(&w, false) == 0)	/* only a cache: no fsync */
		index_drop_log(file);
}

int source_sig(struct source *s, struct rd *body, uint32_t last_need)
{
	struct rd peek = *body;
	uint32_t seq = rd_u32(&peek);
	if (!rd_ok(&peek) || seq != last_need || seq >= s->n)
		return -1;
	if (s->sig == NULL)
		s->sig = xcalloc(s->n + 1, sizeof(*s->sig));
	if (s->sig[seq] == NULL) {
		s->sig[seq] = xmalloc(sizeof(**s->sig));
		delta_sig_init(s->sig[seq]);
	}
	return delta_sig_decode(body, &seq, s->sig[seq], &s->sig_budget);
}

int source_ping(struct source *s, struct conn *c)
{
	if (!s->z.enabled)
		return 0;
	struct buf b;
	buf_init(&b, 16);
	s->ping_sent = now_mono_ns();
	sync_ping_encode(s->ping_sent, &b);
	conn_queue(c, MSG_SYNC_PING, b.data, b.len);
	buf_release(&b);
	return conn_flush(c);
}

int source_pong(struct source *s, struct rd *body)
{
	uint64_t t;
	if (s->ping_sent == 0 || sync_ping_decode(body, &t) < 0 || t != s->ping_sent)
		return -1;
	zpack_rtt(&s->z, now_mono_ns() - t);
	s->ping_sent = 0;
	return 0;
}

int source_sigs_done(const struct source *s)
{
	for (size_t i = 0; s->sig && i < s->n; i++)
		if (s->sig[i] && !delta_sig_complete(s->sig[i]))
			return -1;
	return 0;
}

struct sender {
	struct source *s;
	struct conn *c;
	int (*pace)(void *arg, uint64_t n);
	void *arg;
	bool failed;		/* pace said stop */
};

/* One chunk of file data, compressed when that pays. */
static int send_chunk(struct sender *x, uint16_t raw_type, uint16_t z_type, const uint8_t *p, size_t n,
		      uint64_t covered)
{
	if (zpack_try(&x->s->z, p, n, x->c->out.len >= ZSTD_BACKLOG, x->c->bytes_out))
		conn_queue(x->c, z_type, x->s->z.out, x->s->z.out_len);
	else
		conn_queue(x->c, raw_type, p, n);
	if (x->pace(x->arg, covered) < 0) {
		x->failed = true;
		return -1;
	}
	return 0;
}

static int emit_delta(void *arg, const uint8_t *ops, size_t n, uint64_t covered)
{
	return send_chunk(arg, MSG_SYNC_DELTA, MSG_SYNC_DELTA_Z, ops, n, covered);
}

int source_send(struct source *s, struct conn *c, uint32_t seq, int (*pace)(void *arg, uint64_t n), void *arg)
{
	const struct sync_entry *se = &s->e[seq];
	struct sender x = { .s = s, .c = c, .pace = pace, .arg = arg };
	struct delta_sig *sig = s->sig ? s->sig[seq] : NULL;
	uint8_t *b = NULL;
	int r = 1;
	int fd = open_beneath(s->rootfd, se->path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		warn(s, se->path, fd == -ENOENT ? "vanished before it was sent" : strerror(-fd));
		r = 0;
		goto out;
	}
	uint8_t s4[4];
	be32_put(s4, seq);
	conn_queue(c, MSG_SYNC_FILE, s4, 4);
	zpack_file(&s->z);
	if (sig && delta_sig_complete(sig)) {
		/* A read error ends the ops early: the destination's hash
		 * check then refuses the file, as with DATA. */
		(void)delta_generate(sig, fd, emit_delta, &x);
	} else {
		b = xmalloc(FRAME_CHUNK);
		for (;;) {
			ssize_t n = read(fd, b, FRAME_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (send_chunk(&x, MSG_SYNC_DATA, MSG_SYNC_DATA_Z, b, (size_t)n, (uint64_t)n) < 0)
				break;
		}
	}
	if (x.failed)
		r = -1;
	else
		conn_queue(c, MSG_SYNC_FILE_END, NULL, 0);
out:
	if (fd >= 0)
		close(fd);
	free(b);
	if (sig) {
		delta_sig_release(sig);
		free(sig);
		s->sig[seq] = NULL;
	}
	return r;
}

bool source_base_id(const struct source *s, uint8_t id[INDEX_HASH_LEN])
{
	if (s->cache.n == 0 || s->cache.written_ns == 0)
		return false;
	index_state_id(&s->cache, id);
	return true;
}

/* Must entry e travel in a changes-only manifest whose base has o? */
static bool differs(const struct sync_entry *e, const struct index_entry *o)
{
	if (e->type != o->type)
		return true;
	if (e->type == ENT_FILE)
		return e->mode != o->mode || e->size != o->size || e->mtime_ns != o->mtime_ns ||
		       memcmp(e->hash, o->hash, INDEX_HASH_LEN) != 0;
	if (e->type == ENT_DIR)
		return e->mode != o->mode;
	return true;
}

/* The manifest's frames on their way out: plain, or (a link that may
 * compress) gathered into batches of MANIFEST_BATCH bytes, each sent as
 * one SYNC_ENTRIES_Z when zstd shrinks it.  Paths, sizes and times of
 * alike files shrink about threefold; the source tree's first push over
 * 20 Mbit/s sent 0.9 MB of manifest before its data. */
struct mqueue {
	struct conn *c;
	bool batch;
	struct buf b;		/* frames framed as on the wire */
	void *cctx;		/* ZSTD_CCtx, made for the first batch */
	uint8_t *z;
	size_t zcap;
};

static void mq_flush(struct mqueue *q)
{
	if (q->b.len == 0)
		return;
	size_t zn = 0;
	if (q->b.len >= MANIFEST_ZMIN) {
		if (q->cctx == NULL && (q->cctx = ZSTD_createCCtx()) == NULL)
			bug("out of memory for zstd");
		size_t need = ZSTD_compressBound(q->b.len);
		if (need > q->zcap) {
			q->z = xrealloc(q->z, need);
			q->zcap = need;
		}
		zn = ZSTD_compressCCtx(q->cctx, q->z, q->zcap, q->b.data, q->b.len, MANIFEST_ZSTD_LEVEL);
	}
	if (zn && !ZSTD_isError(zn) && zn < q->b.len && zn <= FRAME_MAX)
		conn_queue(q->c, MSG_SYNC_ENTRIES_Z, q->z, zn);
	else
		conn_queue_framed(q->c, q->b.data, q->b.len);
	buf_reset(&q->b);
}

static void mq_put(struct mqueue *q, uint16_t type, const struct buf *f)
{
	if (!q->batch) {
		conn_queue(q->c, type, f->data, f->len);
		return;
	}
	frame_put(&q->b, type, f->data, f->len);
	if (q->b.len >= MANIFEST_BATCH)
		mq_flush(q);
}

int source_queue_manifest(const struct source *s, struct conn *c, bool changes_only, int (*flow)(void *arg),
			  void *arg, size_t *sent)
{
	struct buf b;
	size_t i = 0, j = 0;
	int r = 0;
	const struct index *base = &s->cache;
	struct mqueue q = { .c = c, .batch = s->z.enabled };
	buf_init(&b, FRAME_MAX);
	buf_init(&q.b, SIZE_MAX);
	*sent = 0;
	while (r == 0 && (i < s->n || (changes_only && j < base->n))) {
		int cmp = !changes_only || j >= base->n ? -1
			  : i >= s->n ? 1
			  : path_cmp(s->e[i].path, index_path(base, &base->e[j]));
		buf_reset(&b);
		if (cmp > 0) {
			sync_drop_encode(index_path(base, &base->e[j++]), &b);
			mq_put(&q, MSG_SYNC_DROP, &b);
		} else {
			const struct sync_entry *e = &s->e[i++];
			bool skip = cmp == 0 && !differs(e, &base->e[j]);
			if (cmp == 0)
				j++;
			if (skip)
				continue;
			sync_entry_encode(e, &b);
			mq_put(&q, MSG_SYNC_ENTRY, &b);
		}
		(*sent)++;
		if (c->out.len > CONN_OUT_HIGH || *sent % MANIFEST_FLOW_EVERY == 0)
			r = flow(arg);
	}
	buf_release(&b);
	if (r == 0) {
		mq_flush(&q);
		conn_queue(c, MSG_SYNC_ENTRIES_END, NULL, 0);
	}
	buf_release(&q.b);
	ZSTD_freeCCtx(q.cctx);
	free(q.z);
	return r < 0 ? -1 : 0;
}

size_t source_left_out(const struct source *s, void (*fn)(void *arg, const char *path, bool is_dir), void *arg)
{
	size_t i = 0, n = 0;
	/* Every path of the cache is in the manifest: the common case costs
	 * nothing. */
	if (s->matched == s->cache.n)
		return 0;
	for (size_t j = 0; j < s->cache.n; j++) {
		const struct index_entry *o = &s->cache.e[j];
		const char *p = index_path(&s->cache, o);
		while (i < s->n && path_cmp(s->e[i].path, p) < 0)
			i++;
		if (i < s->n && strcmp(s->e[i].path, p) == 0)
			continue;
		struct stat st;
		if (apply_lstat(s->rootfd, p, &st) < 0)
			continue;	/* deleted here: a deletion */
		n += o->type != ENT_DIR;
		fn(arg, p, o->type == ENT_DIR);
	}
	return n;
}

/* A conversation in progress (source_run). */
struct talk {
	const struct source_side *s;
	struct source_result *r;
	int base_reply;		/* SYNC_BASE: -1 awaited, 0/1 */
	bool keep_err;		/* the queue could not be drained for a KEEP */
};

enum { PHASE_BASE = 1, PHASE_PLAN, PHASE_DONE };

static int talk_bad(struct talk *t, uint16_t type)
{
	if (t->s->proto_error)
		t->s->proto_error(t->s->arg, type);
	return -1;
}

/* A NEED: for a file of the manifest, after the last one asked for. */
static int take_need(struct talk *t, struct rd *body)
{
	const struct source *src = t->s->src;
	struct source_result *r = t->r;
	uint32_t seq = rd_u32(body);
	rd_expect_end(body);
	if (!rd_ok(body) || seq >= src->n || src->e[seq].type != ENT_FILE || (r->nneed && seq <= r->need[r->nneed - 1]))
		return -1;
	r->need = xrealloc(r->need, (r->nneed + 1) * sizeof(*r->need));
	r->need[r->nneed++] = seq;
	return 0;
}

/* Could the destination have done what its SYNC_DONE says?  It writes
 * only the files it asked for (NEED) and the symlinks of the manifest,
 * and only as many as its plan said (need), at most the sizes of those
 * files, deletes only what its plan said and its index can hold, and
 * meets a conflict or an error at most once per entry of the manifest or
 * of its index (a failed index save: one more).  The plan comes from the
 * same peer, so what this side knows bounds it too.  Anything else is a
 * broken or hostile agent, never printed as a count ("pushed 4294967295"). */
static bool done_possible(const struct source *src, const struct source_result *r)
{
	const struct sync_done *d = &r->done;
	uint64_t bytes = 0, links = 0;
	for (size_t i = 0; i < r->nneed; i++)
		bytes += src->e[r->need[i]].size;
	for (size_t i = 0; i < src->n; i++)
		links += src->e[i].type == ENT_LINK;
	uint64_t entries = (uint64_t)INDEX_ENTRIES_MAX * 2;
	return d->written <= r->pe.need && d->written <= r->nneed + links && d->bytes <= bytes &&
	       d->deleted <= r->pe.deletes && d->deleted <= INDEX_ENTRIES_MAX && d->conflicts <= entries &&
	       d->errors <= entries + 1;
}

/* One frame from the destination.  phase is what ends the wait (0: none,
 * only what arrived is handled).  1 when that end came, 0 to go on, -1
 * to stop. */
static int talk_frame(struct talk *t, int phase, uint16_t type, struct rd *body)
{
	struct source *src = t->s->src;
	struct source_result *r = t->r;
	bool ok = false;
	switch (type) {
	case MSG_SYNC_NEED:
		return take_need(t, body) < 0 ? talk_bad(t, type) : 0;
	case MSG_SYNC_SIG:
		/* The signature of the file just asked for. */
		ok = source_sig(src, body, r->nneed ? r->need[r->nneed - 1] : UINT32_MAX) == 0;
		return ok ? 0 : talk_bad(t, type);
	case MSG_SYNC_PONG:
		return source_pong(src, body) == 0 ? 0 : talk_bad(t, type);
	case MSG_SYNC_BASE: {
		bool match;
		if (t->base_reply != -1 || sync_base_decode(body, &match) < 0)
			return talk_bad(t, type);
		t->base_reply = match;
		return phase == PHASE_BASE;
	}
	case MSG_SYNC_PLAN_END:
		ok = phase == PHASE_PLAN && sync_plan_end_decode(body, &r->pe) == 0 && source_sigs_done(src) == 0;
		return ok ? 1 : talk_bad(t, type);
	case MSG_SYNC_DONE:
		ok = phase == PHASE_DONE && t->s->wait_done && sync_done_decode(body, &r->done) == 0 &&
		     done_possible(src, r);
		return ok ? 1 : talk_bad(t, type);
	}
	if (t->s->other == NULL)
		return talk_bad(t, type);
	return t->s->other(t->s->arg, type, body) < 0 ? -1 : 0;
}

/* One poll: writes what the queue holds, reads what has arrived.
 * timeout as for poll().  0 (*got: input came), or -1: the link is gone. */
static int talk_io(struct talk *t, int timeout, bool *got)
{
	struct conn *c = t->s->c;
	struct pollfd pf[2] = { { .fd = c->rfd, .events = POLLIN },
				{ .fd = c->out.len ? c->wfd : -1, .events = POLLOUT } };
	*got = false;
	if (poll(pf, 2, timeout) <= 0)
		return 0;
	if (pf[1].revents && conn_flush_some(c) < 0)
		goto lost;
	if (pf[0].revents) {
		int fr = conn_fill(c);
		if (fr == 0 || (fr < 0 && fr != -EAGAIN))
			goto lost;
		*got = fr > 0;
	}
	return 0;
lost:
	t->r->lost = true;
	return -1;
}

/* Handles the frames that have arrived; with phase set, waits for more
 * until its end frame (1).  0 when not waiting and nothing more is
 * there, -1 on error. */
static int talk_pump(struct talk *t, int phase)
{
	for (;;) {
		uint16_t type;
		struct rd body;
		int r;
		while ((r = conn_next(t->s->c, &type, &body)) == 1) {
			int fr = talk_frame(t, phase, type, &body);
			if (fr != 0)
				return fr;
		}
		if (r < 0)
			return talk_bad(t, 0);
		bool got;
		if (talk_io(t, phase ? -1 : 0, &got) < 0)
			return -1;
		if (!phase && !got)
			return 0;
	}
}

/* Writes the queue down to below bytes, handling what the destination
 * says meanwhile (it must never wait on us to read). */
static int talk_drain(struct talk *t, size_t below)
{
	while (t->s->c->out.len > below) {
		bool got;
		if (talk_io(t, -1, &got) < 0)
			return -1;
		if (got && talk_pump(t, 0) < 0)
			return -1;
	}
	return 0;
}

/* After each chunk: the caller's progress, and a bounded queue.  Writing
 * what the link takes now keeps the queue's length a measure of the
 * link: only a backlog makes compression worth its time (sync-zstd.h).
 * Below CONN_OUT_BATCH nothing is written yet: a hundred small files are
 * a few writes, not a hundred wake-ups of ssh and the agent. */
static int talk_pace(void *arg, uint64_t n)
{
	struct talk *t = arg;
	struct conn *c = t->s->c;
	if (t->s->progress)
		t->s->progress(t->s->arg, n, SOURCE_CHUNK);
	if (c->out.len < CONN_OUT_BATCH)
		return 0;
	if (conn_flush_some(c) < 0) {
		t->r->lost = true;
		return -1;
	}
	return c->out.len > CONN_OUT_HIGH ? talk_drain(t, CONN_OUT_HIGH / 2) : 0;
}

/* While the manifest is queued: the queue kept bounded, and a pong taken
 * as it arrives (its time is when it is read). */
static int talk_flow(void *arg)
{
	struct talk *t = arg;
	if (talk_drain(t, CONN_OUT_HIGH / 2) < 0)
		return -1;
	return t->s->src->ping_sent && talk_pump(t, 0) < 0 ? -1 : 0;
}

/* A path the last manifest had that is still here but no longer in it (a
 * new ignore rule, a folder no longer pushed): the destination keeps its
 * copy and forgets it, as rsync keeps excluded files unless
 * --delete-excluded. */
static void talk_keep(void *arg, const char *path, bool is_dir)
{
	struct talk *t = arg;
	struct buf b;
	if (t->keep_err)
		return;
	if (!is_dir)
		path_sample_add(&t->r->kept, path);
	buf_init(&b, FRAME_MAX);
	sync_keep_encode(path, &b);
	conn_queue(t->s->c, MSG_SYNC_KEEP, b.data, b.len);
	buf_release(&b);
	if (t->s->c->out.len > CONN_OUT_HIGH)
		t->keep_err = talk_drain(t, CONN_OUT_HIGH / 2) < 0;
}

/* Up to the manifest: hints for large changed files (the destination
 * makes their signatures while we hash them), the ping for zstd's first
 * level (once the hashing is done, not before minutes of it), the base. */
static int talk_open(struct talk *t)
{
	const struct source_side *s = t->s;
	struct source *src = s->src;
	if (src->ndeferred) {
		source_queue_hints(src, s->c);
		if (talk_drain(t, 0) < 0)
			return -1;
		source_hash_deferred(src);
		trace_phase("large files hashed");
	}
	if (source_ping(src, s->c) < 0) {
		t->r->lost = true;
		return -1;
	}
	if (s->base_asked) {
		t->base_reply = -1;
		if (talk_pump(t, PHASE_BASE) < 0)
			return -1;
		t->r->changes_only = t->base_reply == 1;
	} else if (s->base_id) {
		/* The destination's index is what we sent last time (our
		 * cache): only the changes since travel.  Said first. */
		uint8_t id[INDEX_HASH_LEN];
		t->r->changes_only = source_base_id(src, id) && memcmp(id, s->base_id, INDEX_HASH_LEN) == 0;
		uint8_t m = t->r->changes_only;
		conn_queue(s->c, MSG_SYNC_BASE, &m, 1);
	}
	if (s->send_keeps) {
		(void)source_left_out(src, talk_keep, t);
		if (t->keep_err)
			return -1;
	}
	return 0;
}

/* After the plan: the files asked for, back to back, then the commit. */
static int talk_send(struct talk *t)
{
	const struct source_side *s = t->s;
	struct source_result *r = t->r;
	for (size_t i = 0; i < r->nneed; i++) {
		int sr = source_send(s->src, s->c, r->need[i], talk_pace, t);
		if (sr < 0)
			return -1;
		if (sr > 0) {
			r->files_sent++;
			if (s->progress)
				s->progress(s->arg, 0, SOURCE_FILE_DONE);
		}
	}
	if (r->nneed && s->progress)
		s->progress(s->arg, 0, SOURCE_ALL_SENT);
	conn_queue(s->c, MSG_SYNC_COMMIT, NULL, 0);
	if (s->wait_done)
		return talk_pump(t, PHASE_DONE) < 0 ? -1 : 0;
	return talk_drain(t, 0);
}

int source_run(const struct source_side *side, struct source_result *r)
{
	struct talk t = { .s = side, .r = r, .base_reply = -2 };
	bool force = side->flags & SYNC_FORCE;

	memset(r, 0, sizeof(*r));
	if (talk_open(&t) < 0)
		return -1;
	if (source_queue_manifest(side->src, side->c, r->changes_only, talk_flow, &t, &r->sent_entries) < 0)
		return -1;
	trace_phase("manifest queued");
	if (talk_pump(&t, PHASE_PLAN) < 0)
		return -1;
	trace_phase("plan end");
	/* Dry run, or the guard: the destination stops at its plan, and so
	 * do we.  Its guard flag or our own count of its plan, either one. */
	bool guard = r->pe.guard || dest_guard_trips(&r->pe);
	if ((side->flags & SYNC_DRY_RUN) || (guard && !force)) {
		r->stopped = true;
		return talk_drain(&t, 0);
	}
	if (talk_send(&t) < 0)
		return -1;
	trace_phase("done");
	return 0;
}

void source_result_release(struct source_result *r)
{
	free(r->need);
	r->need = NULL;
	path_sample_release(&r->kept);
}
