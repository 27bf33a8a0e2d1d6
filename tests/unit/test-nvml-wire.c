/*
 * test-nvml-wire.c - the NVML helper's messages: round trips, the bytes
 * the helper writes (kept byte for byte here: it has its own encoder),
 * and every cap and malformed body refused.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "mon-gpu.h"
#include "nvml-wire.h"
#include "t.h"

static void hello(void)
{
	struct buf b;
	struct nvml_hello h;
	t_case = "HELLO round trip";
	buf_init(&b, NVML_WIRE_FRAME_MAX);
	CHECK(nvml_wire_hello_put(&b, NVML_WIRE_INIT, 9) == 0);
	CHECK(nvml_wire_hello_decode(b.data, b.len, &h) == 0);
	CHECK(h.version == NVML_WIRE_VERSION && h.state == NVML_WIRE_INIT && h.code == 9);

	t_case = "HELLO: the helper's bytes";
	static const uint8_t ready[] = { 1, 1, 0, 0, 0, 0, 0 };
	CHECK(nvml_wire_hello_decode(ready, sizeof(ready), &h) == 0 && h.state == NVML_WIRE_READY);

	t_case = "HELLO: refused when short, long, of another version, type or state";
	CHECK(nvml_wire_hello_decode(ready, sizeof(ready) - 1, &h) < 0);
	CHECK(nvml_wire_hello_decode(b.data, 0, &h) < 0);
	static const uint8_t longer[] = { 1, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t v2[] = { 1, 2, 0, 0, 0, 0, 0 };
	static const uint8_t sample[] = { 3, 1, 0, 0, 0, 0, 0 };
	static const uint8_t state9[] = { 1, 1, 9, 0, 0, 0, 0 };
	CHECK(nvml_wire_hello_decode(longer, sizeof(longer), &h) < 0);
	CHECK(nvml_wire_hello_decode(v2, sizeof(v2), &h) < 0);
	CHECK(nvml_wire_hello_decode(sample, sizeof(sample), &h) < 0);
	CHECK(nvml_wire_hello_decode(state9, sizeof(state9), &h) < 0);
	buf_release(&b);
}

static void sample(void)
{
	struct buf b;
	struct mon_gpu *g;
	uint32_t n;
	int32_t code;
	struct mon_gpu_proc pr[2] = { { 4242, 0, 1u << 30, 0 }, { 7, 0, MON_NA64, 0 } };
	struct mon_gpu src[2] = {
		{ 0, "Fake GPU 0", "GPU-fake-0", 10, 40, 100000, 1u << 30, 16ull << 30, NULL, 0 },
		{ 1, "Odd\x01name", "GPU-fake-1", MON_NA, MON_NA, MON_NA, MON_NA64, MON_NA64, pr, 2 },
	};

	t_case = "SAMPLE round trip: figures, unknowns and processes";
	buf_init(&b, NVML_WIRE_FRAME_MAX);
	CHECK(nvml_wire_sample_put(&b, 0, src, 2) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) == 0);
	CHECK(code == 0 && n == 2);
	if (n == 2) {
		CHECK_STR(g[0].name, "Fake GPU 0");
		CHECK_STR(g[0].uuid, "GPU-fake-0");
		CHECK(g[0].index == 0 && g[0].util == 10 && g[0].temp == 40 && g[0].power_mw == 100000);
		CHECK(g[0].mem_used == 1u << 30 && g[0].mem_total == 16ull << 30 && g[0].nprocs == 0);
		CHECK_STR(g[1].name, "Odd?name");
		CHECK(g[1].index == 1 && g[1].util == MON_NA && g[1].power_mw == MON_NA && g[1].mem_used == MON_NA64);
		CHECK(g[1].nprocs == 2 && g[1].procs[0].pid == 4242 && g[1].procs[0].mem == 1u << 30);
		CHECK(g[1].procs[1].mem == MON_NA64 && g[1].procs[1].uid == MON_NA && g[1].procs[1].job == MON_NOJOB);
	}
	mon_gpus_free(g, n);

	t_case = "SAMPLE: a failed count carries only the code";
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 15, src, 2) == 0 && b.len == 5);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) == 0 && code == 15 && n == 0 && g == NULL);

	t_case = "SAMPLE: the helper's bytes (a GPU without a handle)";
	static const uint8_t nohandle[] = { 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0, 0, 0, 0 };
	CHECK(nvml_wire_sample_decode(nohandle, sizeof(nohandle), &code, &g, &n) == 0 && n == 1);
	if (n == 1)
		CHECK(strcmp(g[0].name, "?") == 0 && g[0].uuid[0] == '\0' && g[0].util == MON_NA);
	mon_gpus_free(g, n);

	t_case = "SAMPLE: every truncation refused, nothing leaked";
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 0, src, 2) == 0);
	for (size_t cut = 0; cut < b.len; cut++)
		CHECK(nvml_wire_sample_decode(b.data, cut, &code, &g, &n) < 0 && g == NULL && n == 0);

	t_case = "SAMPLE: trailing bytes refused";
	CHECK(buf_put_u8(&b, 0) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);

	t_case = "SAMPLE: util over 100 refused";
	buf_reset(&b);
	src[0].util = 101;
	CHECK(nvml_wire_sample_put(&b, 0, src, 1) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);
	src[0].util = 10;

	t_case = "SAMPLE: a name over NVML_WIRE_NAME_MAX refused";
	char longname[NVML_WIRE_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	src[0].name = longname;
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 0, src, 1) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);
	longname[NVML_WIRE_NAME_MAX] = '\0';
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 0, src, 1) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) == 0 && n == 1);
	mon_gpus_free(g, n);
	src[0].name = "Fake GPU 0";

	t_case = "SAMPLE: counts over the caps or over the bytes refused";
	buf_reset(&b);
	buf_put_u8(&b, NVML_WIRE_SAMPLE);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, MON_GPUS_MAX + 1);
	for (int i = 0; i < 4000; i++)
		buf_put_u8(&b, 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);
	buf_reset(&b);
	buf_put_u8(&b, NVML_WIRE_SAMPLE);
	buf_put_u32(&b, 0);
	buf_put_u32(&b, 0xffffffffu);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);
	struct mon_gpu_proc *many = calloc(MON_GPU_PROCS_MAX + 1, sizeof(*many));
	src[0].procs = many;
	src[0].nprocs = MON_GPU_PROCS_MAX + 1;
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 0, src, 1) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) < 0);
	src[0].nprocs = MON_GPU_PROCS_MAX;
	buf_reset(&b);
	CHECK(nvml_wire_sample_put(&b, 0, src, 1) == 0);
	CHECK(nvml_wire_sample_decode(b.data, b.len, &code, &g, &n) == 0 && n == 1 && g[0].nprocs == MON_GPU_PROCS_MAX);
	mon_gpus_free(g, n);
	free(many);

	t_case = "SAMPLE: a name with a NUL or an ok byte other than 0 or 1 refused";
	static const uint8_t nul[] = { 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK(nvml_wire_sample_decode(nul, sizeof(nul), &code, &g, &n) < 0);
	uint8_t ok2[sizeof(nohandle)];
	memcpy(ok2, nohandle, sizeof(ok2));
	ok2[9] = 2;
	CHECK(nvml_wire_sample_decode(ok2, sizeof(ok2), &code, &g, &n) < 0);
	buf_release(&b);
}

void test_nvml_wire(void)
{
	hello();
	sample();
}
