/*
 * sync-delta.h - rsync's algorithm for large changed files: the destination
 * sends a signature of its old version (per block a weak rolling checksum
 * and a strong hash), the source rolls over its new version looking for
 * those blocks and answers with ops: copy blocks of the old file, or
 * literal bytes.  The destination rebuilds the file from its old version
 * and the ops, into the usual temp file: the whole-file XXH3-128 check and
 * the rename stay what guarantees a correct, atomic result.
 *
 * Memory is bounded by named limits, never by a file's size: signatures
 * hold at most DELTA_BLOCKS_MAX sums, the generator keeps a window of a
 * few blocks.  Everything from the peer is decoded through struct rd, and
 * an op that names a block the old file does not have, or more bytes than
 * the file may hold, is refused before any byte is written.
 *
 * Wire formats (docs/PROTOCOL.md, SYNC_SIG and SYNC_DELTA):
 *   SIG frame: u32 seq, u32 block size, u64 old size, u32 first block,
 *              u32 count (1..DELTA_SIG_FRAME_SUMS), count x (u32 weak,
 *              u64 strong)
 *   DELTA frame: ops, back to back:
 *              0x01 u32 first block, u32 count   copy blocks first..+count
 *              0x02 u32 len, len bytes            literal (1..DELTA_LITERAL_MAX)
 */
#ifndef FERRY_SYNC_DELTA_H
#define FERRY_SYNC_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DELTA_OP_COPY	0x01
#define DELTA_OP_LIT	0x02

/* The block layout of an old file: block i is [i*bs, min((i+1)*bs, size)). */
struct delta_geom {
	uint32_t bs;
	uint64_t old_size;
};
uint32_t delta_nblocks(const struct delta_geom *g);

/* The block size for an old file of this size (about its square root,
 * clamped), or 0 when the file should go whole (too small, or too many
 * blocks even at DELTA_BLOCK_MAX). */
uint32_t delta_block_size(uint64_t size);

/* A signature: the old file's layout and a sum per block. */
struct delta_sig {
	struct delta_geom g;
	uint32_t n;		/* sums held */
	uint32_t cap;
	uint32_t *weak;
	uint64_t *strong;
};
void delta_sig_init(struct delta_sig *s);
void delta_sig_release(struct delta_sig *s);
bool delta_sig_complete(const struct delta_sig *s);

/* Reads fd (an old file of exactly size bytes, from offset 0) into a
 * signature with block size delta_block_size(size).  0, -ESTALE when the
 * file is not size bytes long (changed meanwhile), -EFBIG when it should
 * go whole, or -errno of a read. */
int delta_sig_compute(int fd, uint64_t size, struct delta_sig *s);

/* Encodes s as SIG frames for entry seq: frame(arg, payload, len) per
 * frame; its non-zero return stops and is returned. */
int delta_sig_encode(const struct delta_sig *s, uint32_t seq, int (*frame)(void *arg, const uint8_t *p, size_t n),
		     void *arg);

/* Decodes one SIG frame into s (empty, or holding the earlier frames of
 * the same file): *seq is set; the layout must be the one of the earlier
 * frames and the blocks must continue where they stopped.  *budget is the
 * number of sum bytes the caller may still hold; it shrinks by what this
 * frame adds.  0, or -1 when malformed or out of range (s unchanged). */
int delta_sig_decode(struct rd *r, uint32_t *seq, struct delta_sig *s, size_t *budget);

/* Rolls over the new file fd against sig and produces ops: emit(arg, ops,
 * len, covered) is called with at most DELTA_FRAME_MAX bytes of ops that
 * stand for `covered` bytes of the new file, in order; its non-zero
 * return stops and is returned.  0, or -errno of a read. */
int delta_generate(const struct delta_sig *sig, int fd,
		   int (*emit)(void *arg, const uint8_t *ops, size_t n, uint64_t covered), void *arg);

/* Applies one DELTA frame.  The whole frame is checked first, so nothing
 * is written for a bad one: -EPROTO when malformed or naming a block
 * outside g, -EBADMSG when it would produce more than room bytes.  Then,
 * unless out is NULL (check only), copies come from oldfd (pread) and
 * literals from the frame, in order, through out(arg, p, n) (its negative
 * return stops and is returned); -ESTALE when the old file is shorter
 * than g says.  *produced is set to the bytes the frame stands for. */
int delta_apply(struct rd *ops, const struct delta_geom *g, int oldfd, uint64_t room,
		int (*out)(void *arg, const void *p, size_t n), void *arg, uint64_t *produced);

#endif
