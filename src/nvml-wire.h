/*
 * nvml-wire.h - the pipe between the static agent and its NVML helper
 * (src/nvml-helper.c, a tiny dynamically linked program: a static
 * executable cannot dlopen the host's libnvidia-ml.so.1).
 *
 * Every message is a frame: u32 body length (at most NVML_WIRE_FRAME_MAX),
 * then the body, whose first byte is its type.  Integers big-endian, as
 * everywhere in ferry.  Version 1:
 *
 *   helper -> agent, once at start:
 *     HELLO   u8 type, u8 version, u8 state (enum nvml_wire_state),
 *             u32 code (the nvmlInit_v2 return when state is INIT)
 *   agent -> helper, one per sample:
 *     REQ     u8 type
 *   helper -> agent, the answer:
 *     SAMPLE  u8 type, u32 code (nvmlDeviceGetCount_v2's return; GPUs
 *             follow only when 0), u32 ngpus (at most MON_GPUS_MAX), each:
 *               u8 ok (0: no handle, nothing else known), str name,
 *               str uuid (u32 length, at most NVML_WIRE_NAME_MAX bytes),
 *               u32 util, temp, power_mw (MON_NA unknown),
 *               u64 mem_used, mem_total (MON_NA64 unknown),
 *               u32 nprocs (at most MON_GPU_PROCS_MAX), each u32 pid,
 *               u64 mem (MON_NA64 unknown)
 *
 * The helper encodes with plain code (it links nothing of ferry); the
 * agent decodes through struct rd only, here.
 */
#ifndef FERRY_NVML_WIRE_H
#define FERRY_NVML_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mon.h"

#define NVML_WIRE_VERSION	1
/* The largest SAMPLE is ~64 x (200 + 256 x 12) bytes = ~210 KB. */
#define NVML_WIRE_FRAME_MAX	(256 * 1024)
#define NVML_WIRE_NAME_MAX	96	/* bytes of a name or uuid (NVML's own buffers are 96 and 80) */

enum nvml_wire_type { NVML_WIRE_HELLO = 1, NVML_WIRE_REQ = 2, NVML_WIRE_SAMPLE = 3 };

enum nvml_wire_state {
	NVML_WIRE_READY = 0,	/* loaded and initialised */
	NVML_WIRE_NOLIB = 1,	/* libnvidia-ml.so.1 did not load */
	NVML_WIRE_NOSYM = 2,	/* it lacks nvmlInit_v2 or the device calls */
	NVML_WIRE_INIT = 3,	/* nvmlInit_v2 failed with code */
};

struct nvml_hello {
	uint8_t version, state;
	int32_t code;
};

/* A HELLO body (without the length).  0, or -1 when it is not one (a
 * version this agent does not know is -1 too). */
int nvml_wire_hello_decode(const uint8_t *p, size_t n, struct nvml_hello *h);
/* A SAMPLE body.  0 with *code and, when *code is 0, the GPUs (the
 * caller frees them with mon_gpus_free; names never empty: "?" for an
 * unknown one), or -1 (nothing allocated) when it does not decode. */
int nvml_wire_sample_decode(const uint8_t *p, size_t n, int32_t *code,
			    struct mon_gpu **gpus, uint32_t *ngpus);
/* Encoders for the tests and the seed corpus (the helper has its own). */
int nvml_wire_hello_put(struct buf *b, uint8_t state, int32_t code);
int nvml_wire_sample_put(struct buf *b, int32_t code, const struct mon_gpu *gpus, uint32_t n);

#endif
