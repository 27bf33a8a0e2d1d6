/*
 * fuzz-mon.c - libFuzzer harness: the monitoring messages a client or an
 * agent decodes (MON_SAMPLE, MON_REQ, MON_KILL, MON_KILL_REPLY); a sample
 * that decodes must encode again to the same bytes (an older agent's:
 * with an empty tail of names and command lines added).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "mon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r;
	struct mon_sample s;
	struct mon_req q;
	char *str;
	uint32_t v;

	rd_init(&r, data, size);
	if (mon_sample_decode(&r, &s) == 0) {
		struct buf b;
		buf_init(&b, FRAME_MAX);
		if (mon_sample_encode(&s, &b) < 0)
			abort();
		/* An older agent's sample (without the jobs' names and the
		 * processes' command lines at its end) comes back with
		 * them, all empty. */
		size_t tail = 4 * ((size_t)s.njobs + s.nprocs);
		bool same = b.len == size && memcmp(b.data, data, size) == 0;
		bool older = b.len == size + tail && memcmp(b.data, data, size) == 0;
		for (size_t i = size; older && i < b.len; i++)
			older = b.data[i] == 0;
		if (!same && !older)
			abort();
		buf_release(&b);
		for (uint32_t i = 0; i < s.nprocs; i++)
			if (s.procs[i].job != MON_NOJOB && s.procs[i].job >= s.njobs)
				abort();
		mon_sample_release(&s);
	}
	rd_init(&r, data, size);
	if (mon_req_decode(&r, &q) == 0)
		mon_req_release(&q);
	rd_init(&r, data, size);
	if (mon_kill_decode(&r, &str, &v) == 0)
		free(str);
	rd_init(&r, data, size);
	if (mon_kill_reply_decode(&r, &v, &str) == 0)
		free(str);
	return 0;
}
