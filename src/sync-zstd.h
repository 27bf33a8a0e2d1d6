/*
 * sync-zstd.h - zstd for the file data of a sync, only where it pays.
 *
 * Three rules decide, per chunk (one DATA or DELTA frame):
 *  - the link must be the bottleneck: the caller says whether its output
 *    queue is backlogged; when it drains, compressing only costs time
 *    (except before ZSTD_START_BYTES have been written: the buffers
 *    ahead of a thin link take a burst before it pushes back);
 *  - compression must outrun the link: its speed at the current level
 *    and the link's (bytes written while the queue stayed backlogged)
 *    are measured as they go.  The stream starts at ZSTD_LEVEL_FAST
 *    (at ZSTD_LEVEL where the round trip says the link is thin:
 *    zpack_rtt) and goes up to ZSTD_LEVEL once the link turns out slower than that
 *    level's speed (ZSTD_LEVEL_BPS, a guess until measured) by
 *    ZSTD_SPEED_MARGIN; a level slower than the link drops to
 *    ZSTD_LEVEL_FAST for good, and that one too slow sends raw, trying
 *    one chunk in ZSTD_PROBE_EVERY to see whether things changed (on
 *    loopback ssh level 9 made an initial push wait for zstd, and 100
 *    changed files took ~30 ms longer than raw);
 *  - the data must shrink: a chunk that does not lose ZSTD_GAIN_PCT
 *    stops compression for that file for ZSTD_RETRY_CHUNKS chunks.
 * Compressed chunks of a session (one direction) are one zstd stream,
 * flushed at the end of every chunk: each decodes completely when it
 * arrives, against the history of those before it (a window of 2^
 * ZSTD_WINDOW_LOG bytes at most, enforced on the receiving side).  A
 * level change ends the frame with that chunk (zstd applies a level
 * from the next frame on); the stream goes on with a new frame.  Raw
 * chunks are not part of the stream.  Decompression refuses a chunk
 * that decodes to nothing or to more than ZSTD_RAW_MAX bytes, without
 * writing past its buffer; after one bad chunk every later one fails.
 */
#ifndef FERRY_SYNC_ZSTD_H
#define FERRY_SYNC_ZSTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zpack {
	void *cctx;		/* ZSTD_CCtx, made on first use */
	bool enabled;		/* false: never (the local target) */
	unsigned skip;		/* chunks to send raw before trying again */
	uint8_t *out;		/* the last compressed chunk */
	size_t out_len, out_cap;
	uint64_t raw_in, packed_out;	/* totals, for reports */
	int level;		/* current zstd level */
	/* Bytes a second, moving averages: the link's while the queue
	 * stayed backlogged, and our compression's at this level. */
	double link_bps, comp_bps;
	uint64_t t_prev, out_prev;	/* the last call: time, bytes on the wire */
	uint64_t win_ns, win_bytes, window_ns;	/* the link's current window */
	bool prev_backlogged;
	unsigned probe;
	bool fresh;		/* the next chunk is its level's first */
	bool climbed;		/* went up to ZSTD_LEVEL once (never again) */
	bool thin;		/* the round trip says the link is slower than ZSTD_LEVEL */
	bool pushed_back;	/* the queue was backlogged once */
	bool unthin;		/* thin, but the link never pushed back: level down */
};

void zpack_init(struct zpack *z, bool enabled);
void zpack_release(struct zpack *z);
/* A new file: forget that the last one did not compress. */
void zpack_file(struct zpack *z);
/* The session's round trip, measured (SYNC_PING).  ssh carries at most
 * its channel window (SSH_WINDOW_BYTES) per round trip, so a long one
 * caps the link: when that cap is below ZSTD_LEVEL's speed by
 * ZSTD_SPEED_MARGIN (a round trip over ~60 ms), the stream starts at
 * ZSTD_LEVEL instead of climbing to it once the link pushes back, and
 * the start rule (ZSTD_START_BYTES) compresses at that level: the few MB
 * ssh and the kernel take before a thin link pushes back no longer go
 * at the fast level.  The measured speeds still rule after that: a
 * level slower than the link drops to the fast one.  And a link that has
 * taken THIN_PROOF_BYTES without its queue ever backing up was not thin
 * (the round trip was stretched by a busy peer): the fast level again,
 * the rules as without a round trip. */
void zpack_rtt(struct zpack *z, uint64_t rtt_ns);
/* Compresses p[0..n) into the stream when the rules say so (wire_out:
 * the bytes written to the link so far, for its speed): true and
 * z->out/out_len hold the chunk to send (it must be sent: the stream
 * has it); false to send the chunk raw. */
bool zpack_try(struct zpack *z, const void *p, size_t n, bool backlogged, uint64_t wire_out);

struct zunpack {
	void *dctx;		/* ZSTD_DCtx, made on first use */
	uint8_t *buf;		/* ZSTD_RAW_MAX + 1 bytes */
	bool failed;		/* a chunk did not decode: the stream is lost */
};
void zunpack_init(struct zunpack *u);
void zunpack_release(struct zunpack *u);
/* Decompresses one chunk of the stream: 0 and *out (valid until the
 * next call) / *len set, or -1 when it does not decode, leaves input
 * unused, or yields nothing or more than ZSTD_RAW_MAX bytes. */
int zunpack_chunk(struct zunpack *u, const uint8_t *p, size_t n, const uint8_t **out, size_t *len);

#endif
