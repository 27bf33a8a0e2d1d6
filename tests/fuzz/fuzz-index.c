/*
 * fuzz-index.c - libFuzzer harness: arbitrary bytes as an index file, and
 * the decoded index re-encoded and looked up.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync-index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct index ix;
	if (index_decode(data, size, &ix) == 0) {
		struct buf b;
		buf_init(&b, SIZE_MAX);
		/* A decoded index re-encodes to the same bytes. */
		if (index_encode(&ix, &b) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
			abort();
		for (size_t i = 0; i < ix.n; i++)
			if (index_find(&ix, index_path(&ix, &ix.e[i])) != &ix.e[i])
				abort();
		buf_release(&b);
	}
	index_release(&ix);
	return 0;
}
