/*
 * fuzz-sync.c - libFuzzer harness: the sync messages an agent or client
 * receives (SYNC_BEGIN with its base id, ENTRY, DROP, KEEP, SKIPPED, BASE, PING/PONG, reports,
 * PLAN_END, DONE, manifest batches), and the push journal the agent reads back.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"
#include "sync-index.h"
#include "sync-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r;
	struct sync_begin b;
	struct sync_entry e;
	struct sync_plan_end pe;
	struct sync_done d;
	uint32_t code;
	char *path, *msg;
	struct index ix;
	int err;
	bool match;

	rd_init(&r, data, size);
	if (sync_begin_decode(&r, &b) == 0)
		sync_begin_release(&b);
	rd_init(&r, data, size);
	if (sync_entry_decode(&r, &e) == 0)
		sync_entry_release(&e);
	rd_init(&r, data, size);
	if (sync_report_decode(&r, &code, &path, &msg) == 0) {
		free(path);
		free(msg);
	}
	rd_init(&r, data, size);
	if (sync_drop_decode(&r, &path) == 0)
		free(path);
	rd_init(&r, data, size);
	struct sync_skipped sk;
	if (sync_skipped_decode(&r, &sk) == 0) {
		if (sk.paths.n > sk.paths.count)
			abort();
		char *text = path_sample_text(&sk.paths);
		free(text);
		sync_skipped_release(&sk);
	}
	rd_init(&r, data, size);
	(void)sync_base_decode(&r, &match);
	uint64_t t;
	rd_init(&r, data, size);
	(void)sync_ping_decode(&r, &t);
	rd_init(&r, data, size);
	(void)sync_plan_end_decode(&r, &pe);
	rd_init(&r, data, size);
	(void)sync_done_decode(&r, &d);

	/* A manifest batch: unpacked, and its frames read; and the input
	 * itself read as unpacked frames. */
	uint8_t *bat;
	size_t blen;
	uint16_t type;
	struct rd body;
	if (sync_batch_unpack(data, size, &bat, &blen) == 0) {
		rd_init(&r, bat, blen);
		while (sync_batch_next(&r, &type, &body) == 1)
			;
		free(bat);
	}
	rd_init(&r, data, size);
	while (sync_batch_next(&r, &type, &body) == 1)
		if (type == MSG_SYNC_ENTRY && sync_entry_decode(&body, &e) == 0)
			sync_entry_release(&e);

	index_init(&ix);
	index_append(&ix, "a", &err);
	index_append(&ix, "m/n", &err);
	if (index_journal_merge(&ix, data, size) == 0)
		for (size_t i = 1; i < ix.n; i++)
			if (path_cmp(index_path(&ix, &ix.e[i - 1]), index_path(&ix, &ix.e[i])) >= 0)
				abort();
	index_release(&ix);
	return 0;
}
