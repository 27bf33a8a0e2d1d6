/*
 * fuzz-job.c - libFuzzer harness: arbitrary bytes as a job record, a job
 * start request, an id list, a logs request, a job end, a logind.conf
 * text.  A decoded
 * record re-encodes to the same bytes.
 */
#define _GNU_SOURCE
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
		/* A current record re-encodes to its own bytes; an old
		 * ("FJB1") one is written back in the current form. */
		if (job_encode(&j, &b) != 0 || (memcmp(data, "FJB2", 4) == 0 &&
						 (b.len != size || memcmp(b.data, data, size) != 0)))
			abort();
		struct job k;
		if (job_decode(b.data, b.len, &k) != 0)
			abort();
		job_release(&k);
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
	struct job_logs_req lq;
	rd_init(&r, data, size);
	if (job_logs_decode(&r, &lq) == 0 && (lq.flags & ~JOB_LOGS_ALL))
		abort();
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
