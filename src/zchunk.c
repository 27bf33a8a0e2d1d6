/*
 * zchunk.c - per-chunk zstd with the "only where it pays" rules
 * (zchunk.h).
 */
#define _GNU_SOURCE
#include "zchunk.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "limits.h"
#include "util.h"

void zpack_init(struct zpack *z, bool enabled)
{
	memset(z, 0, sizeof(*z));
	z->enabled = enabled;
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

bool zpack_try(struct zpack *z, const void *p, size_t n, bool backlogged)
{
	if (!z->enabled || !backlogged || n < ZSTD_MIN_CHUNK)
		return false;
	if (z->skip) {
		z->skip--;
		return false;
	}
	if (z->cctx == NULL) {
		z->cctx = ZSTD_createCCtx();
		if (z->cctx == NULL)
			bug("out of memory for zstd");
		ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	}
	size_t need = ZSTD_compressBound(n);
	if (need > z->out_cap) {
		z->out = xrealloc(z->out, need);
		z->out_cap = need;
	}
	/* One-shot: the frame header carries the content size. */
	size_t r = ZSTD_compress2(z->cctx, z->out, z->out_cap, p, n);
	if (ZSTD_isError(r) || r * 100 > n * (100 - ZSTD_GAIN_PCT)) {
		z->skip = ZSTD_RETRY_CHUNKS;
		return false;
	}
	z->out_len = r;
	z->raw_in += n;
	z->packed_out += r;
	return true;
}

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
	unsigned long long want = ZSTD_getFrameContentSize(p, n);
	if (want == ZSTD_CONTENTSIZE_UNKNOWN || want == ZSTD_CONTENTSIZE_ERROR || want > ZSTD_RAW_MAX ||
	    ZSTD_findFrameCompressedSize(p, n) != n)
		return -1;
	if (u->dctx == NULL) {
		u->dctx = ZSTD_createDCtx();
		if (u->dctx == NULL)
			bug("out of memory for zstd");
		u->buf = xmalloc(ZSTD_RAW_MAX);
	}
	/* Into a buffer of the cap: a frame that lies about its size fails
	 * with dstSize_tooSmall instead of writing past it. */
	size_t r = ZSTD_decompressDCtx(u->dctx, u->buf, ZSTD_RAW_MAX, p, n);
	if (ZSTD_isError(r) || r != want)
		return -1;
	*out = u->buf;
	*len = r;
	return 0;
}
