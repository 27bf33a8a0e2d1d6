/*
 * fuzz-job.c - libFuzzer harness: arbitrary bytes as a job record (the
 * tagged form and the positional ones before it), a launch spec, a
 * supervisor report frame (a u16 type, then the body), a job start
 * request, an id list, a logs request, a job end, a logind.conf text.
 * A decoded record or spec re-encodes to bytes that decode to the same
 * encoding (tagged fields have one canonical form: every known field, in
 * table order, unknown ones dropped).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job-spec.h"
#include "job-sup.h"
#include "job-wire.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void record(const uint8_t *data, size_t size)
{
	struct job j, k;
	if (job_decode(data, size, &j) != 0)
		return;
	struct buf b, c;
	buf_init(&b, SIZE_MAX);
	buf_init(&c, SIZE_MAX);
	if (job_encode(&j, &b) != 0 || job_decode(b.data, b.len, &k) != 0 || job_encode(&k, &c) != 0 ||
	    b.len != c.len || memcmp(b.data, c.data, b.len) != 0 || k.argv[k.argc] != NULL)
		abort();
	job_release(&k);
	buf_release(&b);
	buf_release(&c);
	job_release(&j);
}

static void spec(const uint8_t *data, size_t size)
{
	struct job_spec s, t;
	if (job_spec_decode(data, size, &s) != 0)
		return;
	struct buf b, c;
	buf_init(&b, SIZE_MAX);
	buf_init(&c, SIZE_MAX);
	if (s.argv[s.argc] != NULL || s.env[s.envc] != NULL || s.resources[s.nresources] != NULL ||
	    job_spec_encode(&s, &b) != 0 || job_spec_decode(b.data, b.len, &t) != 0 || job_spec_encode(&t, &c) != 0 ||
	    b.len != c.len || memcmp(b.data, c.data, b.len) != 0)
		abort();
	job_spec_release(&t);
	buf_release(&b);
	buf_release(&c);
	job_spec_release(&s);
}

static void report(const uint8_t *data, size_t size)
{
	struct job_report rp = { 0 };
	struct rd r;
	if (size < 2)
		return;
	rd_init(&r, data + 2, size - 2);
	int v = job_report_frame(&rp, (uint16_t)(data[0] << 8 | data[1]), &r);
	if (v < -1 || v > 1 || (v == 1 && !rp.running && !rp.noexec && !rp.error))
		abort();
	job_report_release(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	record(data, size);
	spec(data, size);
	report(data, size);
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
