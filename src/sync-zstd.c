/*
 * sync-zstd.c - zstd for file data, one stream per session and direction,
 * flushed at every chunk, with the "only where it pays" rules
 * (sync-zstd.h).
 */
#define _GNU_SOURCE
#include "sync-zstd.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

void zpack_init(struct zpack *z, bool enabled)
{
	memset(z, 0, sizeof(*z));
	z->enabled = enabled;
	z->window_ns = ZSTD_LINK_WINDOW_MS * 1000000ull;
}

void zpack_release(struct zpack *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->cctx);
	free(z->out);
	memset(z, 0, sizeof(*z));
}

void zpack_file(struct zpack *z)
{
	z->skip = 0;
}

/* The level (and its window and tables) from the next frame on, its
 * speed to be measured again. */
static void set_level(struct zpack *z, int level)
{
	z->level = level;
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_windowLog, level == ZSTD_LEVEL ? ZSTD_WINDOW_LOG : ZSTD_WINDOW_LOG_FAST);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_hashLog, level == ZSTD_LEVEL ? ZSTD_HASH_LOG : 0);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_chainLog, level == ZSTD_LEVEL ? ZSTD_CHAIN_LOG : 0);
	z->comp_bps = 0;
	z->fresh = true;
}

void zpack_rtt(struct zpack *z, uint64_t rtt_ns)
{
	double cap = rtt_ns ? (double)SSH_WINDOW_BYTES * 1e9 / (double)rtt_ns : 0;
	z->thin = rtt_ns && cap * ZSTD_SPEED_MARGIN < ZSTD_LEVEL_BPS;
	trace_phase("round trip %.1f ms: at most %.0f B/s through ssh%s", (double)rtt_ns / 1e6, cap,
		    z->thin ? ", a thin link" : "");
}

static double ewma(double avg, double v)
{
	return avg > 0 ? 0.75 * avg + 0.25 * v : v;
}

bool zpack_try(struct zpack *z, const void *p, size_t n, bool backlogged, uint64_t wire_out)
{
	uint64_t now = now_mono_ns();
	/* The link's speed: what it took between two calls that both found
	 * the queue backlogged (it was busy all along). */
	if (backlogged && z->prev_backlogged && now > z->t_prev && wire_out >= z->out_prev) {
		/* Summed over a window: the pipe and ssh's buffers take a
		 * burst at once, only a longer span says what the link
		 * carries. */
		z->win_ns += now - z->t_prev;
		z->win_bytes += wire_out - z->out_prev;
		if (z->win_ns >= z->window_ns) {
			z->link_bps = ewma(z->link_bps, (double)z->win_bytes * 1e9 / (double)z->win_ns);
			z->win_ns = z->win_bytes = 0;
		}
	}
	z->t_prev = now;
	z->out_prev = wire_out;
	z->prev_backlogged = backlogged;
	if (backlogged)
		z->pushed_back = true;
	if (z->thin && !z->pushed_back && wire_out > THIN_PROOF_BYTES) {
		z->thin = false;
		z->unthin = z->level > ZSTD_LEVEL_FAST;
		z->climbed = false;
		trace_phase("not a thin link after all: %llu bytes out, the queue never backed up",
			    (unsigned long long)wire_out);
	}
	/* Until a session has written ZSTD_START_BYTES to the link, chunks
	 * go compressed whether or not the queue is backlogged, at the fast
	 * level, or at the strong one on a link the round trip says is thin
	 * (zpack_rtt): the pipe, ssh and the kernel take a few MB before a
	 * thin link pushes back, and those went raw (1.8 MB of the source
	 * tree's first push at 20 Mbit/s); on a fast link the fast level
	 * costs little for them. */
	bool start = wire_out < ZSTD_START_BYTES && (z->level <= ZSTD_LEVEL_FAST || (z->thin && z->climbed));
	if (!z->enabled || (!backlogged && !start) || n < ZSTD_MIN_CHUNK)
		return false;
	if (z->skip) {
		z->skip--;
		return false;
	}
	/* The first chunk of a level also builds its tables: not measured. */
	bool first = z->cctx == NULL || z->fresh;
	if (z->cctx == NULL) {
		z->cctx = ZSTD_createCCtx();
		if (z->cctx == NULL)
			bug("out of memory for zstd");
		/* The fast level until the link's speed is known: level 9
		 * from the start spent more time than it saved where the link
		 * is fast (100 changed files on loopback: ~30 ms).  On a link
		 * the round trip says is thin (zpack_rtt), level 9 at once. */
		z->climbed = z->thin;
		set_level(z, z->thin ? ZSTD_LEVEL : ZSTD_LEVEL_FAST);
		if (z->thin)
			trace_phase("zstd level %d from the start (a thin link)", z->level);
	}
	/* A level takes effect with a new frame only (zstd keeps a frame's
	 * parameters): this chunk ends the frame, the next starts one. */
	bool end_frame = false;
	int next = z->level;
	if (z->unthin) {
		/* Not thin after all (zpack_rtt): the fast level from the next
		 * frame on, as if the round trip had not been known. */
		z->unthin = false;
		end_frame = true;
		next = ZSTD_LEVEL_FAST;
	} else if (z->comp_bps > 0 && z->link_bps > 0 && z->comp_bps < z->link_bps * ZSTD_SPEED_MARGIN) {
		/* Not well ahead of the link: the link would wait for us, or
		 * soon (a margin: the two speeds are noisy, and near the
		 * link's pace a cheaper level loses little). */
		if (z->level > ZSTD_LEVEL_FAST) {
			end_frame = true;
			next = ZSTD_LEVEL_FAST;
		} else if (++z->probe % ZSTD_PROBE_EVERY != 0) {
			return false;
		}
	} else if (z->level == ZSTD_LEVEL_FAST && !z->climbed &&
		   (z->thin || (z->link_bps > 0 && z->link_bps * ZSTD_SPEED_MARGIN < ZSTD_LEVEL_BPS)) &&
		   z->packed_out * 100 < z->raw_in * (100 - ZSTD_GAIN_PCT)) {
		/* The link is thin and the data shrinks: the strong level
		 * from the next frame on (once only; measured like any level,
		 * and dropped if it does not keep ahead).  Data that the fast
		 * level did not shrink (random files: each one's first chunk
		 * is tried) would gain nothing from it but its ~28 MB of
		 * window and tables. */
		end_frame = true;
		next = ZSTD_LEVEL;
		z->climbed = true;
	}
	size_t need = ZSTD_compressBound(n) + 64;
	if (need > z->out_cap) {
		z->out = xrealloc(z->out, need);
		z->out_cap = need;
	}
	/* One stream for the whole session, flushed at every chunk: each
	 * chunk decodes on its own, yet compresses against everything
	 * compressed before it (thousands of small, alike files shrink as
	 * one text would, not one by one). */
	ZSTD_outBuffer ob = { z->out, z->out_cap, 0 };
	ZSTD_inBuffer ib = { p, n, 0 };
	size_t r;
	do {
		r = ZSTD_compressStream2(z->cctx, &ob, &ib, end_frame ? ZSTD_e_end : ZSTD_e_flush);
	} while (!ZSTD_isError(r) && r != 0 && ob.pos < ob.size);
	uint64_t t1 = now_mono_ns();
	if (t1 > now && !first)
		z->comp_bps = ewma(z->comp_bps, (double)n * 1e9 / (double)(t1 - now));
	z->fresh = false;
	if (ZSTD_isError(r) || r != 0)
		bug("zstd: cannot flush a chunk into its bound");
	if (end_frame) {
		/* The next frame, at the next level with its own tables; its
		 * history starts afresh. */
		set_level(z, next);
		trace_phase("zstd level %d: %llu raw -> %llu packed so far, %llu on the wire, link %.0f B/s",
			    z->level, (unsigned long long)(z->raw_in + n), (unsigned long long)(z->packed_out + ob.pos),
			    (unsigned long long)wire_out, z->link_bps);
	}
	/* Sent as it is (the stream has it now); if it did not shrink, the
	 * next chunks go raw for a while. */
	if (ob.pos * 100 > n * (100 - ZSTD_GAIN_PCT))
		z->skip = ZSTD_RETRY_CHUNKS;
	z->out_len = ob.pos;
	z->raw_in += n;
	z->packed_out += ob.pos;
	return true;
}

/* zstd's block header size (ZSTD_blockHeaderSize, not in its public
 * API): what ZSTD_decompressStream asks for next at a block boundary. */
#define ZCHUNK_BLOCK_HEADER 3

void zunpack_init(struct zunpack *u)
{
	memset(u, 0, sizeof(*u));
}

void zunpack_release(struct zunpack *u)
{
	if (u == NULL)
		return;
	ZSTD_freeDCtx(u->dctx);
	free(u->buf);
	memset(u, 0, sizeof(*u));
}

int zunpack_chunk(struct zunpack *u, const uint8_t *p, size_t n, const uint8_t **out, size_t *len)
{
	if (u->dctx == NULL) {
		u->dctx = ZSTD_createDCtx();
		if (u->dctx == NULL)
			bug("out of memory for zstd");
		/* The peer picks the window: never more memory than ours. */
		ZSTD_DCtx_setParameter(u->dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG);
		u->buf = xmalloc(ZSTD_RAW_MAX + 1);
	}
	if (u->failed || n == 0)
		return -1;
	/* Into a buffer one byte over the cap: a chunk that decodes to more
	 * than ZSTD_RAW_MAX fills it and is refused, nothing is written
	 * past it. */
	ZSTD_outBuffer ob = { u->buf, ZSTD_RAW_MAX + 1, 0 };
	ZSTD_inBuffer ib = { p, n, 0 };
	size_t r = 1;
	while (ib.pos < ib.size && ob.pos < ob.size) {
		r = ZSTD_decompressStream(u->dctx, &ob, &ib);
		if (ZSTD_isError(r))
			break;
	}
	/* A flushed chunk ends on a block boundary: the decoder then wants a
	 * block header (3 bytes) next; a chunk that ends its frame (the
	 * level changes with the next) leaves it wanting nothing (0).
	 * Anything else is a cut chunk. */
	if (ZSTD_isError(r) || (r != ZCHUNK_BLOCK_HEADER && r != 0) || ib.pos < ib.size || ob.pos > ZSTD_RAW_MAX ||
	    ob.pos == 0) {
		u->failed = true;	/* the stream is out of step: no more */
		return -1;
	}
	*out = u->buf;
	*len = ob.pos;
	return 0;
}
