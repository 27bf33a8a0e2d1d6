/*
 * test-delta.c - delta round trips on edited files, the signature and
 * delta decoders against malformed input, and bounded zstd chunks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sync-delta.h"
#include "limits.h"
#include "t.h"
#include "util.h"
#include "sync-zstd.h"

struct sink {
	uint8_t *p;
	size_t len, cap;
};

static int sink_put(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->p = xrealloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	return 0;
}

static int mem_fd(const uint8_t *p, size_t n)
{
	int fd = memfd_create("delta-test", 0);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* What the destination does with the source's frames. */
struct apply_ctx {
	struct delta_geom g;
	int oldfd;
	uint64_t room;
	struct sink out;
	size_t literal, frames;
	bool failed;
};

static int on_ops(void *arg, const uint8_t *ops, size_t n, uint64_t covered)
{
	struct apply_ctx *a = arg;
	struct rd r, scan;
	uint64_t produced;
	rd_init(&r, ops, n);
	rd_init(&scan, ops, n);
	a->frames++;
	if (n > DELTA_FRAME_MAX)
		a->failed = true;
	/* Count literal bytes, to check the delta is small. */
	while (rd_left(&scan) > 0) {
		uint8_t op = rd_u8(&scan);
		uint32_t x = rd_u32(&scan);
		if (op == DELTA_OP_COPY)
			(void)rd_u32(&scan);
		else {
			a->literal += x;
			(void)rd_bytes(&scan, x);
		}
	}
	if (delta_apply(&r, &a->g, a->oldfd, a->room - a->out.len, sink_put, &a->out, &produced) != 0 ||
	    produced != covered)
		a->failed = true;
	return 0;
}

struct frames {
	struct sink all;
	size_t count;
};

static int keep_frame(void *arg, const uint8_t *p, size_t n)
{
	struct frames *f = arg;
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	sink_put(&f->all, len, 4);
	sink_put(&f->all, p, n);
	f->count++;
	return 0;
}

/* old -> signature -> frames -> decoded signature -> delta of new ->
 * applied to old.  Returns the literal bytes sent, or -1 on a mismatch. */
static long roundtrip(const uint8_t *old, size_t on, const uint8_t *nw, size_t nn)
{
	struct delta_sig sig, got;
	struct frames fr = { 0 };
	struct apply_ctx a = { 0 };
	int ofd = mem_fd(old, on), nfd = mem_fd(nw, nn);
	long ret = -1;
	size_t budget = DELTA_SIG_TOTAL_MAX;

	delta_sig_init(&got);
	if (delta_sig_compute(ofd, on, &sig) != 0)
		goto out0;
	delta_sig_encode(&sig, 7, keep_frame, &fr);
	struct rd all;
	rd_init(&all, fr.all.p, fr.all.len);
	for (size_t i = 0; i < fr.count; i++) {
		uint32_t len = rd_u32(&all), seq;
		struct rd one;
		rd_init(&one, rd_bytes(&all, len), len);
		if (delta_sig_decode(&one, &seq, &got, &budget) != 0 || seq != 7)
			goto out;
	}
	if (!delta_sig_complete(&got) || got.n != sig.n || memcmp(got.strong, sig.strong, sig.n * 8) != 0)
		goto out;
	a.g = got.g;
	a.oldfd = ofd;
	a.room = nn;
	if (delta_generate(&got, nfd, on_ops, &a) != 0 || a.failed || a.out.len != nn ||
	    (nn && memcmp(a.out.p, nw, nn) != 0))
		goto out;
	ret = (long)a.literal;
out:
	delta_sig_release(&sig);
out0:
	delta_sig_release(&got);
	free(fr.all.p);
	free(a.out.p);
	close(ofd);
	close(nfd);
	return ret;
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
	/* Our own generator: musl's srand(2) is srand(1) one step on, so
	 * rand() would make seed 2's bytes seed 1's shifted by one. */
	uint8_t *p = xmalloc(n + 1);
	uint64_t x = 0x9e3779b97f4a7c15u * (seed + 1);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 32);
	}
	return p;
}

static void test_roundtrips(void)
{
	size_t n = 1000003;	/* not a multiple of any block size */
	uint8_t *old = random_bytes(n, 1), *nw = xmalloc(n + 300000);
	uint32_t bs = delta_block_size(n);
	long lit;

	t_case = "block size";
	CHECK(delta_block_size(DELTA_MIN_SIZE - 1) == 0);
	CHECK(delta_block_size(DELTA_MIN_SIZE) == DELTA_BLOCK_MIN);
	CHECK(delta_block_size(1ull << 30) == 32768);
	CHECK(delta_block_size(1ull << 36) == DELTA_BLOCK_MAX);
	CHECK(delta_block_size(1ull << 40) == 0);	/* too many blocks: whole */
	CHECK(delta_block_size((uint64_t)DELTA_BLOCK_MAX * DELTA_BLOCKS_MAX + 1) == 0);
	CHECK(bs >= DELTA_BLOCK_MIN && bs % 64 == 0);

	t_case = "identical";
	lit = roundtrip(old, n, old, n);
	CHECK(lit == 0);

	t_case = "overwrite in the middle";
	memcpy(nw, old, n);
	memset(nw + 500000, 'x', 3000);
	lit = roundtrip(old, n, nw, n);
	CHECK(lit >= 3000 && lit <= 3000 + 2 * (long)bs);

	t_case = "insert";
	memcpy(nw, old, 400000);
	memset(nw + 400000, 'i', 777);
	memcpy(nw + 400777, old + 400000, n - 400000);
	lit = roundtrip(old, n, nw, n + 777);
	CHECK(lit >= 777 && lit <= 777 + 2 * (long)bs);

	t_case = "delete";
	memcpy(nw, old, 300000);
	memcpy(nw + 300000, old + 310000, n - 310000);
	lit = roundtrip(old, n, nw, n - 10000);
	CHECK(lit >= 0 && lit <= 2 * (long)bs);

	t_case = "blocks moved";
	memcpy(nw, old + 600000, n - 600000);
	memcpy(nw + n - 600000, old, 600000);
	lit = roundtrip(old, n, nw, n);
	CHECK(lit >= 0 && lit <= 3 * (long)bs);

	t_case = "the short last block matches at the end";
	memset(nw, 'p', 5000);
	memcpy(nw + 5000, old, n);
	lit = roundtrip(old, n, nw, n + 5000);
	CHECK(lit == 5000);

	t_case = "new file empty, shorter than a block, all new";
	CHECK(roundtrip(old, n, nw, 0) == 0);
	CHECK(roundtrip(old, n, old + 10, 100) == 100);
	uint8_t *other = random_bytes(200000, 2);
	CHECK(roundtrip(old, n, other, 200000) == 200000);
	free(other);

	t_case = "long literals split, runs of identical blocks";
	uint8_t *zeros = xcalloc(1, 400000);
	CHECK(roundtrip(zeros, 400000, zeros, 400000) == 0);
	memset(zeros + 100000, 1, 200000);
	CHECK(roundtrip(zeros, 400000, zeros, 400000) == 0);
	CHECK(roundtrip(zeros, 100000, old, 300000) == 300000);
	free(zeros);

	t_case = "random edits";
	srand(3);
	for (int round = 0; round < 30; round++) {
		size_t len = n, on = DELTA_MIN_SIZE + (size_t)rand() % (n - DELTA_MIN_SIZE);
		memcpy(nw, old, on);
		len = on;
		for (int k = 0; k < 5; k++) {
			size_t at = (size_t)rand() % len, cnt = (size_t)rand() % 5000;
			switch (rand() % 3) {
			case 0:	/* overwrite */
				for (size_t i = at; i < at + cnt && i < len; i++)
					nw[i] = (uint8_t)rand();
				break;
			case 1:	/* insert */
				if (len + cnt <= n + 200000) {
					memmove(nw + at + cnt, nw + at, len - at);
					memset(nw + at, 'z', cnt);
					len += cnt;
				}
				break;
			default:	/* delete */
				cnt = cnt < len - at ? cnt : len - at;
				memmove(nw + at, nw + at + cnt, len - at - cnt);
				len -= cnt;
			}
		}
		lit = roundtrip(old, on, nw, len);
		CHECK(lit >= 0 && lit <= 25000 + 10 * (long)delta_block_size(on));
	}

	t_case = "too small or empty old files go whole";
	struct delta_sig sig;
	int fd = mem_fd(old, 1000);
	CHECK(delta_sig_compute(fd, 1000, &sig) == -EFBIG);
	close(fd);
	fd = mem_fd(old, 0);
	CHECK(delta_sig_compute(fd, 0, &sig) == -EFBIG);
	close(fd);
	t_case = "an old file that is not the size planned";
	fd = mem_fd(old, 100000);
	CHECK(delta_sig_compute(fd, 200000, &sig) == -ESTALE);
	lseek(fd, 0, SEEK_SET);
	CHECK(delta_sig_compute(fd, 90000, &sig) == -ESTALE);
	close(fd);
	free(old);
	free(nw);
}

static size_t sig_frame(uint8_t *b, uint32_t seq, uint32_t bs, uint64_t size, uint32_t first, uint32_t count,
			uint32_t sums)
{
	struct buf o;
	buf_init(&o, 1 << 20);
	buf_put_u32(&o, seq);
	buf_put_u32(&o, bs);
	buf_put_u64(&o, size);
	buf_put_u32(&o, first);
	buf_put_u32(&o, count);
	for (uint32_t i = 0; i < sums; i++) {
		buf_put_u32(&o, i);
		buf_put_u64(&o, i);
	}
	size_t n = o.len;
	memcpy(b, o.data, n);
	buf_release(&o);
	return n;
}

static int decode_one(struct delta_sig *s, const uint8_t *b, size_t n, size_t *budget)
{
	struct rd r;
	uint32_t seq;
	rd_init(&r, b, n);
	return delta_sig_decode(&r, &seq, s, budget);
}

static void test_sig_decoder(void)
{
	static uint8_t b[1 << 20];
	struct delta_sig s;
	size_t budget = DELTA_SIG_TOTAL_MAX, n;

	t_case = "signature frames: good, then continued";
	delta_sig_init(&s);
	n = sig_frame(b, 1, 4096, 3 * 4096 + 5, 0, 2, 2);
	CHECK(decode_one(&s, b, n, &budget) == 0 && s.n == 2 && !delta_sig_complete(&s));
	CHECK(budget == DELTA_SIG_TOTAL_MAX - 2 * DELTA_SUM_LEN);
	n = sig_frame(b, 1, 4096, 3 * 4096 + 5, 1, 2, 2);
	CHECK(decode_one(&s, b, n, &budget) == -1 && s.n == 2);	/* overlaps */
	n = sig_frame(b, 1, 8192, 3 * 4096 + 5, 2, 2, 2);
	CHECK(decode_one(&s, b, n, &budget) == -1);	/* another layout */
	n = sig_frame(b, 1, 4096, 3 * 4096 + 5, 2, 3, 3);
	CHECK(decode_one(&s, b, n, &budget) == -1);	/* more sums than blocks */
	n = sig_frame(b, 1, 4096, 3 * 4096 + 5, 2, 2, 2);
	CHECK(decode_one(&s, b, n, &budget) == 0 && delta_sig_complete(&s));
	delta_sig_release(&s);

	t_case = "signature frames: hostile values";
	struct { uint32_t bs; uint64_t size; uint32_t first, count, sums; } bad[] = {
		{ DELTA_BLOCK_MIN - 1, 100000, 0, 1, 1 },	/* block too small */
		{ DELTA_BLOCK_MAX + 1, 1000000, 0, 1, 1 },	/* block too big */
		{ 0, 100000, 0, 1, 1 },
		{ 4096, 0, 0, 1, 1 },				/* empty old file */
		{ 4096, 100000, 0, 0, 0 },			/* no sums */
		{ 4096, 100000, 0, 2, 1 },			/* fewer sums than said */
		{ 4096, 100000, 0, 1, 2 },			/* trailing bytes */
		{ 4096, 100000, 5, 1, 1 },			/* does not start at 0 */
		{ 4096, (uint64_t)4096 * DELTA_BLOCKS_MAX + 1, 0, 1, 1 },	/* too many blocks */
		{ 4096, 1ull << 62, 0, 1, 1 },
		{ 4096, UINT64_MAX, 0, 1, 1 },
		{ 4096, 100000, UINT32_MAX, 1, 1 },
		{ 4096, (uint64_t)4096 * 8000, 0, DELTA_SIG_FRAME_SUMS + 1, DELTA_SIG_FRAME_SUMS + 1 },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		delta_sig_init(&s);
		budget = DELTA_SIG_TOTAL_MAX;
		n = sig_frame(b, 1, bad[i].bs, bad[i].size, bad[i].first, bad[i].count, bad[i].sums);
		CHECK(decode_one(&s, b, n, &budget) == -1 && s.n == 0);
		delta_sig_release(&s);
	}
	t_case = "signature frames: past the budget";
	delta_sig_init(&s);
	budget = DELTA_SUM_LEN;
	n = sig_frame(b, 1, 4096, 100000, 0, 2, 2);
	CHECK(decode_one(&s, b, n, &budget) == -1 && budget == DELTA_SUM_LEN);
	for (size_t cut = 0; cut < n; cut++)
		CHECK(decode_one(&s, b, cut, &budget) == -1);
	delta_sig_release(&s);
}

static int apply_bytes(const uint8_t *ops, size_t n, int oldfd, uint64_t room, struct sink *out, uint64_t *produced)
{
	struct rd r;
	struct delta_geom g = { .bs = 4096, .old_size = 3 * 4096 + 100 };
	rd_init(&r, ops, n);
	return delta_apply(&r, &g, oldfd, room, sink_put, out, produced);
}

static void test_apply_decoder(void)
{
	uint8_t *old = random_bytes(3 * 4096 + 100, 9);
	int fd = mem_fd(old, 3 * 4096 + 100);
	struct sink out = { 0 };
	uint64_t produced;

	t_case = "delta ops: copies and literals";
	uint8_t good[] = { 1, 0, 0, 0, 1, 0, 0, 0, 3, 2, 0, 0, 0, 2, 'h', 'i', 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	CHECK(apply_bytes(good, sizeof(good), fd, 1 << 20, &out, &produced) == 0);
	CHECK(produced == 2 * 4096 + 100 + 2 + 4096 && out.len == produced);
	CHECK(memcmp(out.p, old + 4096, 2 * 4096 + 100) == 0 && memcmp(out.p + 2 * 4096 + 100, "hi", 2) == 0);

	t_case = "delta ops: hostile";
	static const struct { uint8_t b[16]; size_t n; } bad[] = {
		{ { 1, 0, 0, 0, 4, 0, 0, 0, 1 }, 9 },		/* block 4 of 4 (0..3) */
		{ { 1, 0, 0, 0, 2, 0, 0, 0, 3 }, 9 },		/* run past the end */
		{ { 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2 }, 9 },	/* wraps */
		{ { 1, 0, 0, 0, 0, 0, 0, 0, 0 }, 9 },		/* empty run */
		{ { 1, 0, 0, 0, 0, 0, 0, 0 }, 8 },		/* truncated */
		{ { 2, 0, 0, 0, 0 }, 5 },			/* empty literal */
		{ { 2, 0, 0, 0, 5, 'a' }, 6 },			/* literal cut short */
		{ { 2, 0, 1, 0, 1, 'a' }, 6 },			/* literal over the maximum */
		{ { 3, 0, 0, 0, 0 }, 5 },			/* unknown op */
		{ { 0 }, 0 },					/* empty frame */
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		out.len = 0;
		CHECK(apply_bytes(bad[i].b, bad[i].n, fd, 1 << 20, &out, &produced) == -EPROTO && out.len == 0);
	}
	t_case = "delta ops: a good op before a bad one writes nothing";
	uint8_t mixed[] = { 2, 0, 0, 0, 2, 'h', 'i', 1, 0, 0, 0, 9, 0, 0, 0, 1 };
	out.len = 0;
	CHECK(apply_bytes(mixed, sizeof(mixed), fd, 1 << 20, &out, &produced) == -EPROTO && out.len == 0);

	t_case = "delta ops: more than the file may hold";
	out.len = 0;
	CHECK(apply_bytes(good, sizeof(good), fd, 100, &out, &produced) == -EBADMSG && out.len == 0);
	t_case = "delta ops: the old file shrank";
	CHECK(ftruncate(fd, 4096) == 0);
	out.len = 0;
	CHECK(apply_bytes(good, sizeof(good), fd, 1 << 20, &out, &produced) == -ESTALE);
	t_case = "delta ops: check only";
	struct rd r;
	struct delta_geom g = { .bs = 4096, .old_size = 3 * 4096 + 100 };
	rd_init(&r, good, sizeof(good));
	CHECK(delta_apply(&r, &g, -1, 1 << 20, NULL, NULL, &produced) == 0 && rd_left(&r) == 0);
	close(fd);
	free(old);
	free(out.p);
}

/* Pages of the old file's cached in the page cache, of npages. */
static size_t resident(int fd, size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = (size_t)(size + pg - 1) / pg, n = 0;
	void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	unsigned char *v = xmalloc(np);
	if (m == MAP_FAILED || mincore(m, size, v) != 0)
		abort();
	for (size_t i = 0; i < np; i++)
		n += v[i] & 1;
	munmap(m, size);
	free(v);
	return n;
}

static void test_apply_drops_old(void)
{
	/* On a disk file (a memfd's pages are not a cache to drop). */
	char path[] = "/var/tmp/ferry-delta.XXXXXX";
	const size_t bs = 256 * 1024, size = 16 * bs;
	uint8_t *old = random_bytes(size, 12), *back = xmalloc(size);
	int fd = mkstemp(path);
	struct sink out = { 0 };
	uint64_t produced;
	t_case = "delta apply: the old version's pages leave the cache as they are copied";
	CHECK(fd >= 0 && write(fd, old, size) == (ssize_t)size && fdatasync(fd) == 0 &&
	      pread(fd, back, size, 0) == (ssize_t)size);
	size_t pages = size / (size_t)sysconf(_SC_PAGESIZE);
	CHECK(resident(fd, size) == pages);
	/* Blocks 8..15 copied (the second 2 MiB), then a literal. */
	uint8_t ops[] = { 1, 0, 0, 0, 8, 0, 0, 0, 8, 2, 0, 0, 0, 1, 'x' };
	struct rd r;
	struct delta_geom g = { .bs = (uint32_t)bs, .old_size = size };
	rd_init(&r, ops, sizeof(ops));
	CHECK(delta_apply(&r, &g, fd, size, sink_put, &out, &produced) == 0 && out.len == 8 * bs + 1 &&
	      memcmp(out.p, old + 8 * bs, 8 * bs) == 0);
	/* The copied half is gone, the rest stays. */
	CHECK(resident(fd, size) == pages / 2);
	CHECK(resident(fd, size / 2) == pages / 2);
	close(fd);
	unlink(path);
	free(old);
	free(back);
	free(out.p);
}

/* One chunk through zpack_try (it must compress) and back through the
 * receiver's stream, byte for byte. */
static bool packs_and_unpacks(struct zpack *z, struct zunpack *u, const uint8_t *p, size_t n, bool backlogged,
			      uint64_t wire)
{
	const uint8_t *out;
	size_t len;
	return zpack_try(z, p, n, backlogged, wire) && zunpack_chunk(u, z->out, z->out_len, &out, &len) == 0 &&
	       len == n && memcmp(out, p, n) == 0;
}

static void test_zchunk(void)
{
	struct zpack z;
	struct zunpack u;
	const uint8_t *out;
	size_t len;
	uint8_t *text = xmalloc(FRAME_CHUNK), *noise = random_bytes(FRAME_CHUNK, 4);
	for (size_t i = 0; i < FRAME_CHUNK; i++)
		text[i] = (uint8_t)"the quick brown fox jumps\n"[i % 26];

	t_case = "zstd: only when enabled, backlogged and shrinking";
	zpack_init(&z, false);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, true, 0));
	zpack_release(&z);
	zpack_init(&z, true);
	zunpack_init(&u);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, false, ZSTD_START_BYTES));
	CHECK(!zpack_try(&z, text, ZSTD_MIN_CHUNK - 1, true, 0));
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, 0) && z.out_len < FRAME_CHUNK / 10);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && len == FRAME_CHUNK &&
	      memcmp(out, text, len) == 0);
	t_case = "zstd: one stream, each chunk against the ones before";
	uint8_t small[300];
	memcpy(small, text + 7, sizeof(small));
	CHECK(zpack_try(&z, small, sizeof(small), true, 0) && z.out_len < 40);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && len == sizeof(small) &&
	      memcmp(out, small, len) == 0);
	t_case = "zstd: trailing bytes, truncation, garbage";
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, 0));
	uint8_t *copy = xmalloc(z.out_len + 1);
	memcpy(copy, z.out, z.out_len);
	copy[z.out_len] = 0;
	struct zunpack v;
	for (size_t cut = 0; cut <= z.out_len + 1; cut++) {
		if (cut == z.out_len)
			continue;
		/* a fresh receiver in step with the stream so far */
		struct zpack y;
		zpack_init(&y, true);
		zunpack_init(&v);
		CHECK(zpack_try(&y, text, FRAME_CHUNK, true, 0) && zunpack_chunk(&v, y.out, y.out_len, &out, &len) == 0);
		CHECK(zpack_try(&y, small, sizeof(small), true, 0) && zunpack_chunk(&v, y.out, y.out_len, &out, &len) == 0);
		CHECK(zunpack_chunk(&v, copy, cut, &out, &len) == -1);
		/* out of step for good (an empty chunk is refused untouched) */
		CHECK(zunpack_chunk(&v, z.out, z.out_len, &out, &len) == (cut ? -1 : 0));
		zunpack_release(&v);
		zpack_release(&y);
	}
	zunpack_init(&v);
	CHECK(zunpack_chunk(&v, noise, 1000, &out, &len) == -1);
	zunpack_release(&v);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && len == FRAME_CHUNK);
	free(copy);
	t_case = "zstd: incompressible data stops compression for a while";
	CHECK(zpack_try(&z, noise, FRAME_CHUNK, true, 0));	/* in the stream now: sent */
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, noise, FRAME_CHUNK) == 0);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, true, 0));	/* skipping */
	zpack_file(&z);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, 0));
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, FRAME_CHUNK) == 0);
	zpack_release(&z);
	zunpack_release(&u);
	zunpack_init(&u);

	t_case = "zstd: a session's first bytes go compressed before any backlog, the rest only with one";
	zpack_init(&z, true);
	zunpack_init(&u);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL_FAST);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	CHECK(zpack_try(&z, small, sizeof(small), false, ZSTD_START_BYTES - 1));
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, small, len) == 0);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, false, ZSTD_START_BYTES));
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, ZSTD_START_BYTES));
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	zpack_release(&z);
	zunpack_release(&u);

	t_case = "zstd: the fast level first; a thin link takes it up to the strong level, in a new frame";
	zpack_init(&z, true);
	zunpack_init(&u);
	z.window_ns = 0;	/* the link measured at every call, not over 200 ms */
	uint64_t wire = 0;
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));	/* builds zstd's tables */
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0);
	CHECK(z.level == ZSTD_LEVEL_FAST && z.link_bps == 0 && z.comp_bps == 0);
	usleep(2000);
	wire += 1000;		/* ~500 KB/s: far below level 9's speed */
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));	/* measured: the frame ends here */
	CHECK(z.link_bps > 0 && z.link_bps < 1e6 && z.level == ZSTD_LEVEL && z.climbed);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));	/* a new frame, at level 9 */
	CHECK(z.out_len >= 4 && z.out[0] == 0x28 && z.out[1] == 0xb5 && z.out[2] == 0x2f && z.out[3] == 0xfd);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	CHECK(z.level == ZSTD_LEVEL && z.comp_bps == 0);	/* its first chunk: not measured */

	t_case = "zstd: a thin link does not take data that does not shrink up to the strong level";
	{
		struct zpack y;
		zpack_init(&y, true);
		y.window_ns = 0;
		uint64_t w = 0;
		for (int k = 0; k < 4; k++) {
			uint8_t *fresh = random_bytes(FRAME_CHUNK, 20 + (unsigned)k);
			zpack_file(&y);		/* each a new file: its first chunk tried */
			(void)zpack_try(&y, fresh, FRAME_CHUNK, true, w);
			free(fresh);
			usleep(2000);
			w += 1000;
		}
		CHECK(y.link_bps > 0 && y.link_bps < 1e6 && y.level == ZSTD_LEVEL_FAST && !y.climbed);
		zpack_release(&y);
	}

	t_case = "zstd: slower than the link, it drops to the fast level, then to raw with probes";
	CHECK(zpack_try(&z, text, FRAME_CHUNK, false, wire) == false);	/* not backlogged: raw */
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));	/* measures zstd */
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0);
	CHECK(z.level == ZSTD_LEVEL && z.comp_bps > 0);
	/* Now a link that takes 1 TB between two calls: faster than any
	 * zstd. */
	wire += 1ull << 40;
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));	/* measures the link: too slow, level drops */
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	CHECK(z.level == ZSTD_LEVEL_FAST);
	/* That chunk ended the frame: the next compressed one starts a new
	 * frame (zstd's magic number), which is where the level applies. */
	wire += 1ull << 40;
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, wire));
	CHECK(z.out_len >= 4 && z.out[0] == 0x28 && z.out[1] == 0xb5 && z.out[2] == 0x2f && z.out[3] == 0xfd);
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
	CHECK(z.level == ZSTD_LEVEL_FAST);	/* never climbs again */
	int packed = 0;
	for (int i = 0; i < 3 * ZSTD_PROBE_EVERY; i++) {
		wire += 1ull << 40;
		if (zpack_try(&z, text, FRAME_CHUNK, true, wire)) {
			packed++;
			CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == 0 && memcmp(out, text, len) == 0);
		}
	}
	CHECK(packed >= 2 && packed <= 5);	/* the probes, and what measured the fast level */
	zpack_release(&z);
	zunpack_release(&u);
	zunpack_init(&u);

	t_case = "zstd: a long round trip starts at the strong level, start rule and all; a short one does not";
	zpack_init(&z, true);
	zunpack_init(&u);
	zpack_rtt(&z, 100 * 1000000ull);	/* 2 MiB per 100 ms: ~21 MB/s at most */
	CHECK(z.thin);
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL && z.climbed);
	CHECK(packs_and_unpacks(&z, &u, small, sizeof(small), false, THIN_PROOF_BYTES - 1) && z.level == ZSTD_LEVEL);
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, true, THIN_PROOF_BYTES));	/* pushed back */
	CHECK(packs_and_unpacks(&z, &u, small, sizeof(small), false, ZSTD_START_BYTES - 1) && z.thin &&
	      z.level == ZSTD_LEVEL);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, false, ZSTD_START_BYTES));
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, true, ZSTD_START_BYTES) && z.level == ZSTD_LEVEL);
	zpack_release(&z);
	zunpack_release(&u);
	zpack_init(&z, true);
	zpack_rtt(&z, 1000000ull);		/* 1 ms: ssh could carry ~2 GB/s */
	CHECK(!z.thin);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL_FAST);
	zpack_release(&z);
	/* Measured after the first chunks went out: the climb comes with the
	 * next chunk, which ends the fast level's frame. */
	zpack_init(&z, true);
	zunpack_init(&u);
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL_FAST);
	zpack_rtt(&z, 200 * 1000000ull);
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL);
	CHECK(packs_and_unpacks(&z, &u, small, sizeof(small), false, 0));
	zpack_release(&z);
	zunpack_release(&u);

	t_case = "zstd: a thin link that never pushes back was not thin: the fast level again";
	zpack_init(&z, true);
	zunpack_init(&u);
	zpack_rtt(&z, 100 * 1000000ull);
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, false, 0) && z.level == ZSTD_LEVEL);
	CHECK(!zpack_try(&z, text, FRAME_CHUNK, false, THIN_PROOF_BYTES + 1));	/* raw now */
	CHECK(!z.thin && z.level == ZSTD_LEVEL);
	/* The next compressed chunk ends level 9's frame; then the fast one. */
	CHECK(packs_and_unpacks(&z, &u, text, FRAME_CHUNK, true, THIN_PROOF_BYTES + 2) && z.level == ZSTD_LEVEL_FAST);
	CHECK(packs_and_unpacks(&z, &u, small, sizeof(small), true, THIN_PROOF_BYTES + 3) &&
	      z.level == ZSTD_LEVEL_FAST);
	zpack_release(&z);
	zunpack_release(&u);
	t_case = "zstd: a thin link that pushed back stays thin past the proof";
	zpack_init(&z, true);
	zpack_rtt(&z, 100 * 1000000ull);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, true, 1 << 20) && z.level == ZSTD_LEVEL);
	CHECK(zpack_try(&z, text, FRAME_CHUNK, false, THIN_PROOF_BYTES + 1) && z.thin && z.level == ZSTD_LEVEL);
	zpack_release(&z);

	t_case = "zstd: a frame bigger than the cap is refused";
	uint8_t *big = xcalloc(1, ZSTD_RAW_MAX + 1);
	zpack_init(&z, true);
	CHECK(zpack_try(&z, big, ZSTD_RAW_MAX + 1, true, 0));
	CHECK(zunpack_chunk(&u, z.out, z.out_len, &out, &len) == -1);
	zpack_release(&z);
	free(big);
	zunpack_release(&u);
	free(text);
	free(noise);
}

void test_sync_delta(void)
{
	test_roundtrips();
	test_sig_decoder();
	test_apply_decoder();
	test_apply_drops_old();
	test_zchunk();
}
