/*
 * fuzz-frame.c - libFuzzer harness: arbitrary bytes as a session's input,
 * first as preamble lines, then as frames handed to every decoder; the
 * first input byte's low bit says whether headers carry channel ids
 * (CAP_CHANNELS), so both framings are explored.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "limits.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c;
	uint16_t type;
	struct rd body;

	conn_init(&c, -1, -1);
	c.chans = size > 0 && (data[0] & 1);
	if (buf_put(&c.in, data, size) < 0)
		goto out;
	/* Text and FERRY-BOOT lines until the preamble, as the client reads. */
	size_t noise = 0;
	char *first = NULL, *boot = NULL;
	for (int i = 0; i < 64; i++) {
		int r = conn_preamble(&c, 4096, &noise, &first, &boot);
		free(boot);
		boot = NULL;
		if (r != 2)
			break;
	}
	free(first);
	while (conn_next(&c, &type, &body) == 1) {
		struct hello h;
		struct exec_req e;
		struct kv_list kv;
		uint32_t code;
		char *msg;
		struct rd copy = body;
		if (hello_decode(&copy, &h) == 0)
			hello_release(&h);
		copy = body;
		if (exec_req_decode(&copy, &e) == 0)
			exec_req_release(&e);
		copy = body;
		if (kv_decode(&copy, &kv) == 0)
			kv_release(&kv);
		copy = body;
		if (error_decode(&copy, &code, &msg) == 0)
			free(msg);
		copy = body;
		(void)rd_u8(&copy);
		(void)rd_u32(&copy);
	}
out:
	conn_release(&c);
	return 0;
}
