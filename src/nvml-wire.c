/*
 * nvml-wire.c - the NVML helper's answers, decoded for the static agent
 * (format in nvml-wire.h).
 *
 * The helper is ours, but it runs a host library we do not know, so its
 * bytes are read like a peer's: every count against its named cap and
 * against the bytes left before anything is allocated, names bounded and
 * made printable.
 */
#define _GNU_SOURCE
#include "nvml-wire.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "mon-gpu.h"
#include "util.h"

#include "banned.h"

/* The least bytes a GPU and a process take: every count is checked
 * against what is left with these before it sizes anything. */
#define GPU_MIN_BYTES	(1 + 4 + 4 + 3 * 4 + 2 * 8 + 4)
#define PROC_MIN_BYTES	(4 + 8)

int nvml_wire_hello_decode(const uint8_t *p, size_t n, struct nvml_hello *h)
{
	struct rd r;
	rd_init(&r, p, n);
	uint8_t type = rd_u8(&r);
	h->version = rd_u8(&r);
	h->state = rd_u8(&r);
	h->code = (int32_t)rd_u32(&r);
	rd_expect_end(&r);
	if (!rd_ok(&r) || type != NVML_WIRE_HELLO || h->version != NVML_WIRE_VERSION ||
	    h->state > NVML_WIRE_INIT)
		return -1;
	return 0;
}

static char *name_get(struct rd *r)
{
	char *c = rd_cstr(r, NVML_WIRE_NAME_MAX);
	for (char *q = c; q && *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return c;
}

int nvml_wire_sample_decode(const uint8_t *p, size_t n, int32_t *code,
			    struct mon_gpu **gpus, uint32_t *ngpus)
{
	struct rd r;
	struct mon_gpu *g = NULL;
	uint32_t cnt = 0, have = 0;
	rd_init(&r, p, n);
	*gpus = NULL;
	*ngpus = 0;
	if (rd_u8(&r) != NVML_WIRE_SAMPLE)
		rd_fail(&r);
	*code = (int32_t)rd_u32(&r);
	if (*code == 0)
		cnt = rd_u32(&r);
	if (cnt > MON_GPUS_MAX || cnt > rd_left(&r) / GPU_MIN_BYTES)
		rd_fail(&r);
	if (!rd_ok(&r) || *code != 0) {
		rd_expect_end(&r);
		goto out;
	}
	g = xcalloc(cnt ? cnt : 1, sizeof(*g));
	for (; have < cnt && rd_ok(&r); have++) {
		struct mon_gpu *gp = &g[have];
		uint8_t ok = rd_u8(&r);
		gp->index = have;
		gp->name = name_get(&r);
		gp->uuid = name_get(&r);
		gp->util = rd_u32(&r);
		gp->temp = rd_u32(&r);
		gp->power_mw = rd_u32(&r);
		gp->mem_used = rd_u64(&r);
		gp->mem_total = rd_u64(&r);
		uint32_t np = rd_u32(&r);
		if (ok > 1 || np > MON_GPU_PROCS_MAX || np > rd_left(&r) / PROC_MIN_BYTES ||
		    (gp->util != MON_NA && gp->util > 100))
			rd_fail(&r);
		if (!rd_ok(&r))
			break;
		if (gp->name[0] == '\0' || ok == 0) {
			free(gp->name);
			gp->name = xstrdup("?");
		}
		gp->procs = xcalloc(np ? np : 1, sizeof(*gp->procs));
		for (uint32_t k = 0; k < np; k++) {
			uint32_t pid = rd_u32(&r);
			uint64_t mem = rd_u64(&r);
			gp->procs[k] = (struct mon_gpu_proc){ pid, MON_NA, mem, MON_NOJOB };
		}
		gp->nprocs = np;
	}
	rd_expect_end(&r);
out:
	if (!rd_ok(&r)) {
		/* A GPU that failed half-way may hold a name: free up to it. */
		mon_gpus_free(g, have < cnt ? have + 1 : cnt);
		return -1;
	}
	*gpus = g;
	*ngpus = cnt;
	return 0;
}

int nvml_wire_hello_put(struct buf *b, uint8_t state, int32_t code)
{
	int rc = buf_put_u8(b, NVML_WIRE_HELLO);
	rc |= buf_put_u8(b, NVML_WIRE_VERSION);
	rc |= buf_put_u8(b, state);
	rc |= buf_put_u32(b, (uint32_t)code);
	return rc ? -1 : 0;
}

int nvml_wire_sample_put(struct buf *b, int32_t code, const struct mon_gpu *gpus, uint32_t n)
{
	int rc = buf_put_u8(b, NVML_WIRE_SAMPLE);
	rc |= buf_put_u32(b, (uint32_t)code);
	if (code != 0)
		return rc ? -1 : 0;
	rc |= buf_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct mon_gpu *g = &gpus[i];
		rc |= buf_put_u8(b, 1);
		rc |= buf_put_cstr(b, g->name);
		rc |= buf_put_cstr(b, g->uuid);
		rc |= buf_put_u32(b, g->util);
		rc |= buf_put_u32(b, g->temp);
		rc |= buf_put_u32(b, g->power_mw);
		rc |= buf_put_u64(b, g->mem_used);
		rc |= buf_put_u64(b, g->mem_total);
		rc |= buf_put_u32(b, g->nprocs);
		for (uint32_t k = 0; k < g->nprocs; k++) {
			rc |= buf_put_u32(b, g->procs[k].pid);
			rc |= buf_put_u64(b, g->procs[k].mem);
		}
	}
	return rc ? -1 : 0;
}
