/*
 * fuzz-smi.c - libFuzzer harness: nvidia-smi CSV output (GPU lines, then
 * the compute-apps lines attributed to the GPUs just parsed).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mon-gpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct mon_gpu *g;
	uint32_t n;
	/* The first half as --query-gpu, all of it as --query-compute-apps. */
	(void)smi_parse_gpus(p, size / 2, &g, &n);
	(void)smi_parse_apps(p, size, g, n);
	for (uint32_t i = 0; i < n; i++)
		if (g[i].nprocs > 256 || strlen(g[i].name) > 256)
			abort();
	mon_gpus_free(g, n);
	return 0;
}
