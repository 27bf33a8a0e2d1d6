/*
 * fuzz-nvml-wire.c - libFuzzer harness: the NVML helper's HELLO and
 * SAMPLE bodies as the static agent decodes them.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "mon-gpu.h"
#include "nvml-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvml_hello h;
	struct mon_gpu *g;
	uint32_t n;
	int32_t code;
	(void)nvml_wire_hello_decode(data, size, &h);
	if (nvml_wire_sample_decode(data, size, &code, &g, &n) < 0) {
		if (g != NULL || n != 0)
			abort();
		return 0;
	}
	if (n > MON_GPUS_MAX || (code != 0 && n != 0))
		abort();
	for (uint32_t i = 0; i < n; i++)
		if (g[i].nprocs > MON_GPU_PROCS_MAX || strlen(g[i].name) > NVML_WIRE_NAME_MAX ||
		    strlen(g[i].uuid) > NVML_WIRE_NAME_MAX || g[i].name[0] == '\0')
			abort();
	mon_gpus_free(g, n);
	return 0;
}
