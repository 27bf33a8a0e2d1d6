/*
 * fuzz-delta.c - libFuzzer harness: what a peer sends for a delta.  The
 * input is tried as a run of SIG frames (each behind a u16 length; a
 * completed signature then drives the generator over a fixed file), as
 * the ops of a DELTA frame applied to a fixed old file, and as a zstd
 * chunk.  Nothing may crash, and a delta may never produce more than the
 * room it was given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sync-delta.h"
#include "limits.h"
#include "sync-zstd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OLD_SIZE (3 * DELTA_BLOCK_MIN + 100)

static int fixed_file(void)
{
	static int fd = -1;
	if (fd < 0) {
		static uint8_t b[OLD_SIZE];
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(i * 7 + i / 300);
		fd = memfd_create("fuzz-delta", 0);
		if (fd < 0 || write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			abort();
	}
	return fd;
}

static uint64_t sunk;

static int sink(void *arg, const void *p, size_t n)
{
	sunk += n;
	return 0;
}

static int drop_ops(void *arg, const uint8_t *ops, size_t n, uint64_t covered)
{
	if (n > DELTA_FRAME_MAX)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fixed_file();
	struct rd r, one;
	struct delta_sig sig;
	size_t budget = DELTA_SIG_TOTAL_MAX;
	uint32_t seq;

	/* Signature frames. */
	delta_sig_init(&sig);
	rd_init(&r, data, size);
	while (rd_left(&r) >= 2) {
		uint16_t n = rd_u16(&r);
		const uint8_t *p = rd_bytes(&r, n);
		if (p == NULL)
			break;
		rd_init(&one, p, n);
		if (delta_sig_decode(&one, &seq, &sig, &budget) < 0)
			break;
	}
	if (delta_sig_complete(&sig)) {
		lseek(fd, 0, SEEK_SET);
		if (delta_generate(&sig, fd, drop_ops, NULL) != 0)
			abort();
	}
	delta_sig_release(&sig);

	/* Ops against the fixed old file, with room from the first byte. */
	if (size >= 1) {
		struct delta_geom g = { .bs = DELTA_BLOCK_MIN, .old_size = OLD_SIZE };
		uint64_t room = (uint64_t)data[0] * 100, produced;
		rd_init(&r, data + 1, size - 1);
		sunk = 0;
		int ret = delta_apply(&r, &g, fd, room, sink, NULL, &produced);
		if (sunk > room || (ret == 0 && sunk != produced))
			abort();
	}

	/* Compressed chunks: the input whole, then as consecutive pieces of
	 * one stream (piece lengths from the first bytes), as a session
	 * would deliver them. */
	struct zunpack u;
	const uint8_t *out;
	size_t len;
	zunpack_init(&u);
	if (zunpack_chunk(&u, data, size, &out, &len) == 0 && len > ZSTD_RAW_MAX)
		abort();
	zunpack_release(&u);
	if (size > 4) {
		size_t off = 4;
		zunpack_init(&u);
		for (int k = 0; k < 4 && off < size; k++) {
			size_t n = 1 + (size_t)data[k] * 16;
			if (n > size - off)
				n = size - off;
			if (zunpack_chunk(&u, data + off, n, &out, &len) == 0 && (len == 0 || len > ZSTD_RAW_MAX))
				abort();
			off += n;
		}
		zunpack_release(&u);
	}
	return 0;
}
