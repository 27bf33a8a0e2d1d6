/*
 * fuzz-index.c - libFuzzer harness: arbitrary bytes as an index file, and
 * the decoded index re-encoded and looked up; the same bytes as an index
 * log (and as a journal) on top of a small index, whose result must stay
 * in order.
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

	/* As a log of generation 7 and as a journal, over a, b/c, d. */
	for (int as_log = 0; as_log < 2; as_log++) {
		int err;
		index_init(&ix);
		ix.gen = 7;
		index_append(&ix, "a", &err);
		index_append(&ix, "b/c", &err);
		index_append(&ix, "d", &err);
		if ((as_log ? index_log_merge(&ix, 7, data, size) : index_journal_merge(&ix, data, size)) == 0) {
			for (size_t i = 1; i < ix.n; i++)
				if (path_cmp(index_path(&ix, &ix.e[i - 1]), index_path(&ix, &ix.e[i])) >= 0)
					abort();
			if (as_log && ix.log_bytes > size)
				abort();
		} else if (ix.n != 3) {
			abort();	/* refused: unchanged */
		}
		index_release(&ix);
	}
	return 0;
}
