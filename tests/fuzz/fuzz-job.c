/*
 * fuzz-job.c - libFuzzer harness: arbitrary bytes as a job record, a job
 * start request, an id list, a job end, a logind.conf text.  A decoded
 * record re-encodes to the same bytes.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job-sup.h"
#include "job-wire.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job j;
	if (job_decode(data, size, &j) == 0) {
		struct buf b;
		buf_init(&b, SIZE_MAX);
		/* A current ("FJB2") record re-encodes to the same bytes; an older
		 * one ("FJB1", still read) is written back as a current one, which
		 * must decode again. */
		bool current = size >= 4 && memcmp(data, "FJB2", 4) == 0;
		if (job_encode(&j, &b) != 0 || (current && (b.len != size || memcmp(b.data, data, size) != 0)))
			abort();
		struct job again;
		if (!current) {
			if (job_decode(b.data, b.len, &again) != 0)
				abort();
			job_release(&again);
		}
		buf_release(&b);
		job_release(&j);
	}
	struct rd r;
	struct job_start_req q;
	rd_init(&r, data, size);
	if (job_start_decode(&r, &q) == 0) {
		if (q.argv[q.argc] != NULL || q.env[q.envc] != NULL)
			abort();
		job_start_release(&q);
	}
	uint32_t n;
	rd_init(&r, data, size);
	free(job_ids_decode(&r, &n));
	uint32_t id;
	uint8_t st;
	int32_t code, sig;
	rd_init(&r, data, size);
	(void)job_done_decode(&r, &id, &st, &code, &sig);
	int v = logind_kill_setting((const char *)data, size, 0);
	if (v != 0 && v != 1)
		abort();
	return 0;
}
