/*
 * sync-delta.c - signatures, delta generation and delta application
 * (sync-delta.h).  Written from the description of rsync's algorithm
 * (Tridgell & Mackerras, "The rsync algorithm", 1996); no code taken.
 *
 * Weak sum of a block x[0..n): a = sum x[i], b = sum (n - i) x[i], both
 * mod 2^16, weak = a | b << 16.  It rolls by one byte in O(1):
 * a' = a - out + in, b' = b - n * out + a'.  The strong sum is XXH3-64.
 */
#define _GNU_SOURCE
#include "sync-delta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

uint32_t delta_nblocks(const struct delta_geom *g)
{
	uint64_t n = g->bs ? (g->old_size + g->bs - 1) / g->bs : 0;
	return n > DELTA_BLOCKS_MAX ? DELTA_BLOCKS_MAX + 1 : (uint32_t)n;
}

static uint64_t isqrt(uint64_t v)
{
	uint64_t lo = 0, hi = 1ull << 32;
	while (lo + 1 < hi) {
		uint64_t mid = (lo + hi) / 2;
		if (mid * mid <= v)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

uint32_t delta_block_size(uint64_t size)
{
	if (size < DELTA_MIN_SIZE)
		return 0;
	/* sqrt(size) balances the two costs: sums grow with size/bs, the
	 * literal a change costs grows with bs.  Multiples of 64 bytes. */
	uint64_t bs = isqrt(size) & ~(uint64_t)63;
	if (bs < DELTA_BLOCK_MIN)
		bs = DELTA_BLOCK_MIN;
	if (bs > DELTA_BLOCK_MAX)
		bs = DELTA_BLOCK_MAX;
	if ((size + bs - 1) / bs > DELTA_BLOCKS_MAX)
		bs = ((size + DELTA_BLOCKS_MAX - 1) / DELTA_BLOCKS_MAX + 63) & ~(uint64_t)63;
	return bs > DELTA_BLOCK_MAX ? 0 : (uint32_t)bs;
}

/* The weak sum's two halves over p[0..n), with b = sum (n - i) x[i]
 * taken as n * a - sum i x[i].  All mod 2^32, which keeps mod 2^16
 * exact.  Signatures take the weak sum of every block of the old file:
 * the vector version makes that 5x cheaper (0.1 s a GiB). */
#if defined(__SSE2__)
#include <emmintrin.h>

static uint64_t hsum64(__m128i v)
{
	uint64_t l[2];
	_mm_storeu_si128((__m128i *)l, v);
	return l[0] + l[1];
}

static void weak_parts(const uint8_t *p, size_t n, uint32_t *pa, uint32_t *pb)
{
	const __m128i zero = _mm_setzero_si128();
	const __m128i wlo = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7), whi = _mm_setr_epi16(8, 9, 10, 11, 12, 13, 14, 15);
	__m128i va = zero, vs = zero, vm = zero;
	size_t nv = n / 16;
	/* Per 16-byte vector v: S_v = its byte sum, M_v = sum m x[16v + m].
	 * sum i x[i] = sum_v (16 v S_v + M_v), and sum_v v S_v =
	 * (nv - 1) sum S_v - sum_v (S_0 + .. + S_(v-1)), the last kept in vs. */
	for (size_t v = 0; v < nv; v++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * v));
		vs = _mm_add_epi64(vs, va);
		va = _mm_add_epi64(va, _mm_sad_epu8(x, zero));
		vm = _mm_add_epi32(vm, _mm_madd_epi16(_mm_unpacklo_epi8(x, zero), wlo));
		vm = _mm_add_epi32(vm, _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), whi));
	}
	uint32_t m4[4];
	_mm_storeu_si128((__m128i *)(void *)m4, vm);
	uint64_t sa = hsum64(va), ss = hsum64(vs);
	uint32_t a = (uint32_t)sa, s = nv ? (uint32_t)(16 * ((nv - 1) * sa - ss)) + m4[0] + m4[1] + m4[2] + m4[3] : 0;
	for (size_t i = 16 * nv; i < n; i++) {
		a += p[i];
		s += (uint32_t)i * p[i];
	}
	*pa = a;
	*pb = (uint32_t)n * a - s;
}
#else
static void weak_parts(const uint8_t *p, size_t n, uint32_t *pa, uint32_t *pb)
{
	uint32_t a = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		a += p[i];
		s += (uint32_t)i * p[i];
	}
	*pa = a;
	*pb = (uint32_t)n * a - s;
}
#endif

static uint32_t weak_of(uint32_t a, uint32_t b)
{
	return (a & 0xffffu) | (b << 16);
}

static uint32_t weak_sum(const uint8_t *p, size_t n)
{
	uint32_t a, b;
	weak_parts(p, n, &a, &b);
	return weak_of(a, b);
}

void delta_sig_init(struct delta_sig *s)
{
	memset(s, 0, sizeof(*s));
}

void delta_sig_release(struct delta_sig *s)
{
	if (s == NULL)
		return;
	free(s->weak);
	free(s->strong);
	memset(s, 0, sizeof(*s));
}

bool delta_sig_complete(const struct delta_sig *s)
{
	return s->n > 0 && s->n == delta_nblocks(&s->g);
}

static void sig_grow(struct delta_sig *s, uint32_t want)
{
	if (want <= s->cap)
		return;
	uint32_t cap = s->cap ? s->cap : 256;
	while (cap < want)
		cap *= 2;
	s->weak = xrealloc(s->weak, cap * sizeof(*s->weak));
	s->strong = xrealloc(s->strong, cap * sizeof(*s->strong));
	s->cap = cap;
}

/* read() until n bytes or end of file: the count read, or -errno. */
static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int delta_sig_compute(int fd, uint64_t size, struct delta_sig *s)
{
	uint32_t bs = delta_block_size(size);
	delta_sig_init(s);
	if (bs == 0)
		return -EFBIG;
	s->g.bs = bs;
	s->g.old_size = size;
	uint32_t nb = delta_nblocks(&s->g);
	size_t per = DELTA_READ / bs ? DELTA_READ / bs : 1, bl = per * bs;
	uint8_t *b = xmalloc(bl);
	uint64_t done = 0;
	int r = 0;
	sig_grow(s, nb);
	while (done < size) {
		ssize_t n = read_full(fd, b, bl);
		if (n < 0 || (n == 0 && done < size)) {
			r = n < 0 ? (int)n : -ESTALE;
			goto out;
		}
		if ((uint64_t)n > size - done) {
			r = -ESTALE;	/* it grew */
			goto out;
		}
		for (size_t off = 0; off < (size_t)n; off += bs) {
			size_t len = (size_t)n - off < bs ? (size_t)n - off : bs;
			if (len < bs && done + off + len < size) {
				r = -ESTALE;	/* a short block before the end */
				goto out;
			}
			s->weak[s->n] = weak_sum(b + off, len);
			s->strong[s->n] = XXH3_64bits(b + off, len);
			s->n++;
		}
		done += (uint64_t)n;
	}
	if (read_full(fd, b, 1) != 0)
		r = -ESTALE;
out:
	free(b);
	if (r < 0)
		delta_sig_release(s);
	return r;
}

int delta_sig_encode(const struct delta_sig *s, uint32_t seq, int (*frame)(void *arg, const uint8_t *p, size_t n),
		     void *arg)
{
	struct buf b;
	int r = 0;
	buf_init(&b, 24 + (size_t)DELTA_SIG_FRAME_SUMS * DELTA_SUM_LEN);
	for (uint32_t first = 0; first < s->n && r == 0; first += DELTA_SIG_FRAME_SUMS) {
		uint32_t count = s->n - first < DELTA_SIG_FRAME_SUMS ? s->n - first : DELTA_SIG_FRAME_SUMS;
		buf_reset(&b);
		buf_put_u32(&b, seq);
		buf_put_u32(&b, s->g.bs);
		buf_put_u64(&b, s->g.old_size);
		buf_put_u32(&b, first);
		buf_put_u32(&b, count);
		for (uint32_t i = first; i < first + count; i++) {
			buf_put_u32(&b, s->weak[i]);
			buf_put_u64(&b, s->strong[i]);
		}
		r = frame(arg, b.data, b.len);
	}
	buf_release(&b);
	return r;
}

int delta_sig_decode(struct rd *r, uint32_t *seq, struct delta_sig *s, size_t *budget)
{
	*seq = rd_u32(r);
	struct delta_geom g = { .bs = rd_u32(r), .old_size = rd_u64(r) };
	uint32_t first = rd_u32(r), count = rd_u32(r);
	if (!rd_ok(r) || g.bs < DELTA_BLOCK_MIN || g.bs > DELTA_BLOCK_MAX || g.old_size == 0 || count == 0 ||
	    count > DELTA_SIG_FRAME_SUMS)
		return -1;
	uint32_t nb = delta_nblocks(&g);
	if (nb > DELTA_BLOCKS_MAX)
		return -1;
	/* Later frames continue the first one: same layout, next block. */
	if (s->n > 0 && (s->g.bs != g.bs || s->g.old_size != g.old_size))
		return -1;
	if (first != s->n || count > nb - first || (size_t)count * DELTA_SUM_LEN > *budget)
		return -1;
	const uint8_t *p = rd_bytes(r, (size_t)count * DELTA_SUM_LEN);
	rd_expect_end(r);
	if (!rd_ok(r))
		return -1;
	struct rd sums;
	rd_init(&sums, p, (size_t)count * DELTA_SUM_LEN);
	sig_grow(s, s->n + count);
	for (uint32_t i = 0; i < count; i++) {
		s->weak[s->n + i] = rd_u32(&sums);
		s->strong[s->n + i] = rd_u64(&sums);
	}
	s->g = g;
	s->n += count;
	*budget -= (size_t)count * DELTA_SUM_LEN;
	return 0;
}

/* The generator's state: a window over the new file, the table of the
 * old file's full blocks by weak sum, and the ops not yet emitted. */
struct gen {
	const struct delta_sig *sig;
	int fd;
	uint8_t *w;
	size_t cap, len;	/* window bytes held */
	size_t p;		/* start of the block being looked for */
	size_t lit;		/* start of the literal not yet emitted (<= p) */
	bool eof;
	int32_t *head, *next;	/* hash chains over full blocks */
	uint32_t shift, nfull;
	struct buf ops;
	uint64_t covered;	/* new-file bytes the ops in ops stand for */
	uint32_t run_first, run_count;	/* copy run not yet in ops */
	uint64_t run_bytes;
	int (*emit)(void *arg, const uint8_t *ops, size_t n, uint64_t covered);
	void *arg;
};

static uint32_t bucket(const struct gen *g, uint32_t weak)
{
	return (weak * 2654435761u) >> g->shift;
}

static void table_build(struct gen *g)
{
	const struct delta_sig *s = g->sig;
	uint32_t bits = 4;
	while ((1u << bits) < 2 * g->nfull && bits < 31)
		bits++;
	g->shift = 32 - bits;
	g->head = xmalloc(((size_t)1 << bits) * sizeof(*g->head));
	memset(g->head, 0xff, ((size_t)1 << bits) * sizeof(*g->head));
	g->next = xmalloc(((size_t)g->nfull + 1) * sizeof(*g->next));
	for (uint32_t i = 0; i < g->nfull; i++) {
		uint32_t h = bucket(g, s->weak[i]);
		int32_t j = g->head[h];
		int tries = 0;
		/* Identical blocks (runs of zeros) need one entry, not a chain. */
		while (j >= 0 && tries++ < DELTA_CHAIN_MAX &&
		       (s->weak[j] != s->weak[i] || s->strong[j] != s->strong[i]))
			j = g->next[j];
		if (j >= 0 && tries <= DELTA_CHAIN_MAX)
			continue;
		g->next[i] = g->head[h];
		g->head[h] = (int32_t)i;
	}
}

/* A full block with this window's sums, or -1; at most DELTA_CHAIN_MAX
 * candidates are looked at, so a hostile signature bounds our work. */
static int64_t lookup(struct gen *g, uint32_t weak, const uint8_t *win, uint64_t *strong, bool *have)
{
	const struct delta_sig *s = g->sig;
	int32_t i = g->head[bucket(g, weak)];
	for (int tries = 0; i >= 0 && tries < DELTA_CHAIN_MAX; i = g->next[i], tries++) {
		if (s->weak[i] != weak)
			continue;
		if (!*have) {
			*strong = XXH3_64bits(win, s->g.bs);
			*have = true;
		}
		if (s->strong[i] == *strong)
			return i;
	}
	return -1;
}

static int flush_ops(struct gen *g)
{
	if (g->ops.len == 0)
		return 0;
	int r = g->emit(g->arg, g->ops.data, g->ops.len, g->covered);
	buf_reset(&g->ops);
	g->covered = 0;
	return r;
}

static int put_run(struct gen *g)
{
	int r = 0;
	if (g->run_count == 0)
		return 0;
	if (g->ops.len + 9 > DELTA_FRAME_MAX && (r = flush_ops(g)) != 0)
		return r;
	buf_put_u8(&g->ops, DELTA_OP_COPY);
	buf_put_u32(&g->ops, g->run_first);
	buf_put_u32(&g->ops, g->run_count);
	g->covered += g->run_bytes;
	g->run_count = 0;
	g->run_bytes = 0;
	return 0;
}

static int add_copy(struct gen *g, uint32_t block, size_t bytes)
{
	int r = 0;
	if (g->run_count && block == g->run_first + g->run_count) {
		g->run_count++;
		g->run_bytes += bytes;
	} else {
		if ((r = put_run(g)) != 0)
			return r;
		g->run_first = block;
		g->run_count = 1;
		g->run_bytes = bytes;
	}
	/* Emit long runs now: the destination copies while we read on. */
	if (g->covered + g->run_bytes >= DELTA_EMIT_BYTES && ((r = put_run(g)) != 0 || (r = flush_ops(g)) != 0))
		return r;
	return 0;
}

/* Window bytes [from, to) as literal ops. */
static int add_literal(struct gen *g, size_t from, size_t to)
{
	int r;
	while (from < to) {
		size_t n = to - from < DELTA_LITERAL_MAX ? to - from : DELTA_LITERAL_MAX;
		if ((r = put_run(g)) != 0)
			return r;
		if (g->ops.len + 5 + n > DELTA_FRAME_MAX && (r = flush_ops(g)) != 0)
			return r;
		buf_put_u8(&g->ops, DELTA_OP_LIT);
		buf_put_u32(&g->ops, (uint32_t)n);
		buf_put(&g->ops, g->w + from, n);
		g->covered += n;
		from += n;
		if (g->ops.len >= FRAME_CHUNK && (r = flush_ops(g)) != 0)
			return r;
	}
	return 0;
}

/* Makes the window hold want bytes from p, unless the file ends first.
 * Bytes before the pending literal are dropped to make room. */
static int fill(struct gen *g, size_t want)
{
	while (!g->eof && g->len - g->p < want) {
		if (g->cap - g->len < DELTA_READ) {
			memmove(g->w, g->w + g->lit, g->len - g->lit);
			g->len -= g->lit;
			g->p -= g->lit;
			g->lit = 0;
		}
		ssize_t n = read(g->fd, g->w + g->len, g->cap - g->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			g->eof = true;
		g->len += (size_t)n;
	}
	return 0;
}

/* The end of the file: its last bytes may be the old file's short last
 * block, which is not in the table. */
static int finish(struct gen *g)
{
	const struct delta_sig *s = g->sig;
	uint32_t bs = s->g.bs, last = s->n - 1;
	size_t tail = (size_t)(s->g.old_size - (uint64_t)last * bs);
	int r;
	if (tail < bs && g->len - g->lit >= tail) {
		size_t q = g->len - tail;
		if (weak_sum(g->w + q, tail) == s->weak[last] && XXH3_64bits(g->w + q, tail) == s->strong[last]) {
			if ((r = add_literal(g, g->lit, q)) != 0 || (r = add_copy(g, last, tail)) != 0)
				return r;
			g->lit = g->len;
		}
	}
	if ((r = add_literal(g, g->lit, g->len)) != 0 || (r = put_run(g)) != 0)
		return r;
	return flush_ops(g);
}

static int generate(struct gen *g)
{
	const struct delta_sig *s = g->sig;
	uint32_t bs = s->g.bs, a = 0, b = 0;
	bool have_weak = false;
	int64_t expect = -1;
	int r;

	for (;;) {
		if ((r = fill(g, (size_t)bs + 1)) != 0)
			return r;
		size_t avail = g->len - g->p;
		if (avail < bs)
			break;
		const uint8_t *win = g->w + g->p;
		uint64_t strong = 0;
		bool have_strong = false;
		int64_t m = -1;
		/* After a match the next block usually follows: one strong
		 * sum, no weak sum. */
		if (!have_weak && expect >= 0 && expect < g->nfull) {
			strong = XXH3_64bits(win, bs);
			have_strong = true;
			if (strong == s->strong[expect])
				m = expect;
		}
		if (m < 0 && g->nfull) {
			if (!have_weak) {
				weak_parts(win, bs, &a, &b);
				have_weak = true;
			}
			m = lookup(g, weak_of(a, b), win, &strong, &have_strong);
		}
		if (m >= 0) {
			if ((r = add_literal(g, g->lit, g->p)) != 0 || (r = add_copy(g, (uint32_t)m, bs)) != 0)
				return r;
			g->p += bs;
			g->lit = g->p;
			have_weak = false;
			expect = m + 1;
			continue;
		}
		expect = -1;
		if (avail == bs)
			break;	/* end of file: no byte to roll in */
		if (g->p - g->lit == DELTA_LITERAL_MAX) {
			if ((r = add_literal(g, g->lit, g->p)) != 0)
				return r;
			g->lit = g->p;
		}
		if (have_weak) {
			uint32_t out = win[0], in = win[bs];
			a = a - out + in;
			b = b - bs * out + a;
		}
		g->p++;
	}
	return finish(g);
}

int delta_generate(const struct delta_sig *sig, int fd,
		   int (*emit)(void *arg, const uint8_t *ops, size_t n, uint64_t covered), void *arg)
{
	struct gen g = { .sig = sig, .fd = fd, .emit = emit, .arg = arg };
	uint32_t bs = sig->g.bs;
	if (!delta_sig_complete(sig))
		return -EINVAL;
	g.nfull = sig->g.old_size % bs ? sig->n - 1 : sig->n;
	g.cap = DELTA_LITERAL_MAX + (size_t)bs + 1 + DELTA_READ;
	g.w = xmalloc(g.cap);
	buf_init(&g.ops, DELTA_FRAME_MAX);
	table_build(&g);
	int r = generate(&g);
	free(g.w);
	free(g.head);
	free(g.next);
	buf_release(&g.ops);
	return r;
}

static uint64_t copy_len(const struct delta_geom *g, uint32_t first, uint32_t count)
{
	uint64_t off = (uint64_t)first * g->bs, end = ((uint64_t)first + count) * g->bs;
	return (end > g->old_size ? g->old_size : end) - off;
}

/* Reads one op; 0 at a good op, -1 when malformed or outside g. */
static int next_op(struct rd *r, uint32_t nb, uint8_t *op, uint32_t *x, uint32_t *y, const uint8_t **lit)
{
	*op = rd_u8(r);
	*x = rd_u32(r);
	if (*op == DELTA_OP_COPY) {
		*y = rd_u32(r);
		return rd_ok(r) && *y > 0 && *x < nb && *y <= nb - *x ? 0 : -1;
	}
	if (*op == DELTA_OP_LIT && *x > 0 && *x <= DELTA_LITERAL_MAX) {
		*lit = rd_bytes(r, *x);
		return rd_ok(r) ? 0 : -1;
	}
	return -1;
}

static int copy_blocks(const struct delta_geom *g, int oldfd, uint32_t first, uint32_t count,
		       int (*out)(void *arg, const void *p, size_t n), void *arg, uint8_t **bufp)
{
	uint64_t off = (uint64_t)first * g->bs, left = copy_len(g, first, count);
	if (*bufp == NULL)
		*bufp = xmalloc(DELTA_READ);
	while (left > 0) {
		ssize_t n = pread(oldfd, *bufp, left < DELTA_READ ? (size_t)left : DELTA_READ, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ESTALE;	/* the old file shrank under us */
		int r = out(arg, *bufp, (size_t)n);
		if (r < 0)
			return r;
		/* The old version is on its way out: its cached pages go
		 * once the copy has passed them, and the new version's pages
		 * reuse them.  Pages the kernel has to find afresh cost far
		 * more (on these VMs a 1 GiB copy took ~1.4 s instead of
		 * ~0.3 s).  Whole aligned windows only: the kernel drops a
		 * large folio only when the range covers all of it.  A
		 * block copied twice is read again from the disk. */
		uint64_t end = off + (uint64_t)n, w = end & ~(uint64_t)(DELTA_DROP_ALIGN - 1);
		if (w > off && w >= DELTA_DROP_ALIGN)	/* this chunk ended the window before w */
			(void)posix_fadvise(oldfd, (off_t)(w - DELTA_DROP_ALIGN), DELTA_DROP_ALIGN, POSIX_FADV_DONTNEED);
		off += (uint64_t)n;
		left -= (uint64_t)n;
	}
	return 0;
}

int delta_apply(struct rd *ops, const struct delta_geom *g, int oldfd, uint64_t room,
		int (*out)(void *arg, const void *p, size_t n), void *arg, uint64_t *produced)
{
	uint32_t nb = delta_nblocks(g), x, y = 0;
	uint8_t op, *buf = NULL;
	const uint8_t *lit = NULL;
	uint64_t total = 0;
	struct rd chk = *ops;
	int r = 0;

	*produced = 0;
	if (rd_left(&chk) == 0 || nb == 0 || nb > DELTA_BLOCKS_MAX)
		return -EPROTO;
	while (rd_left(&chk) > 0) {
		if (next_op(&chk, nb, &op, &x, &y, &lit) < 0)
			return -EPROTO;
		total += op == DELTA_OP_COPY ? copy_len(g, x, y) : x;
	}
	*produced = total;
	if (total > room)
		return -EBADMSG;
	while (rd_left(ops) > 0 && r == 0) {
		(void)next_op(ops, nb, &op, &x, &y, &lit);
		if (out == NULL)
			continue;
		if (op == DELTA_OP_COPY)
			r = copy_blocks(g, oldfd, x, y, out, arg, &buf);
		else
			r = out(arg, lit, x);
	}
	free(buf);
	return r;
}
