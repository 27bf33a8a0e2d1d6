/*
 * nvml-helper.c - ferry-nvml: the static agent's window on NVML.
 *
 * A static executable cannot dlopen the host's libnvidia-ml.so.1, so the
 * static agent (FERRY_STATIC) carries this tiny dynamically linked
 * program, runs it once, and asks it for one sample per tick over a pipe
 * (format in nvml-wire.h): a HELLO at start, then a SAMPLE per request
 * byte, until stdin closes.
 *
 * It must start on every glibc the agents support (2.17 and later), so
 * it references only symbol versions <= GLIBC_2.17: no crt1.o (its
 * __libc_start_main is GLIBC_2.34), an entry of its own (the dynamic
 * loader has already initialised libc and the environment by then),
 * dlopen/dlsym bound to their old versions (which live in libdl.so.2
 * before 2.34: hence DT_NEEDED libdl.so.2), no stack protector, no
 * fortify, no stdio.  Build and checks: mk/nvml.mk.  It links nothing of
 * ferry: plain code, plain encoder.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "mon-nvml.h"
#include "nvml-wire.h"

#include "banned.h"

#if defined(__x86_64__)
#define OLD_GLIBC "GLIBC_2.2.5"
#elif defined(__aarch64__) || defined(__powerpc64__)
#define OLD_GLIBC "GLIBC_2.17"
#else
#error "nvml-helper: which glibc version does this architecture start at?"
#endif
__asm__(".symver dlopen,dlopen@" OLD_GLIBC);
__asm__(".symver dlsym,dlsym@" OLD_GLIBC);

/* The wire limits, without pulling limits.h's dependencies in. */
#define GPUS_MAX	64
#define PROCS_MAX	256

static struct {
	nvml_return (*count)(unsigned int *);
	nvml_return (*handle)(unsigned int, nvml_device *);
	nvml_return (*name)(nvml_device, char *, unsigned int);
	nvml_return (*uuid)(nvml_device, char *, unsigned int);
	nvml_return (*util)(nvml_device, struct nvml_utilization *);
	nvml_return (*mem)(nvml_device, struct nvml_memory *);
	nvml_return (*temp)(nvml_device, int, unsigned int *);
	nvml_return (*power)(nvml_device, unsigned int *);
	nvml_return (*procs)(nvml_device, unsigned int *, struct nvml_process *);
} nv;

static uint8_t out[NVML_WIRE_FRAME_MAX];
static size_t outlen;
static struct nvml_process pinfo[PROCS_MAX + 4];

static void put8(uint32_t v)
{
	if (outlen < sizeof(out))
		out[outlen++] = (uint8_t)v;
}

static void put32(uint32_t v)
{
	for (int s = 24; s >= 0; s -= 8)
		put8(v >> s);
}

static void put64(uint64_t v)
{
	put32((uint32_t)(v >> 32));
	put32((uint32_t)v);
}

static void putstr(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	put32((uint32_t)n);
	for (size_t i = 0; i < n; i++)
		put8((uint8_t)s[i]);
}

static int xfer(int fd, void *p, size_t n, int wr)
{
	uint8_t *c = p;
	while (n > 0) {
		ssize_t r = wr ? write(fd, c, n) : read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends out[4..outlen) as one frame. */
static int send_frame(void)
{
	uint32_t n = (uint32_t)(outlen - 4);
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(n >> (24 - 8 * i));
	return xfer(1, out, outlen, 1);
}

#define SYM(field, name) (*(void **)&nv.field = dlsym(dl, name))

static int hello(void)
{
	nvml_return (*init)(void);
	int state = NVML_WIRE_READY;
	nvml_return code = 0;
	void *dl = dlopen(NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		state = NVML_WIRE_NOLIB;
		goto out;
	}
	*(void **)&init = dlsym(dl, "nvmlInit_v2");
	SYM(count, "nvmlDeviceGetCount_v2");
	SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
	SYM(name, "nvmlDeviceGetName");
	SYM(uuid, "nvmlDeviceGetUUID");
	SYM(util, "nvmlDeviceGetUtilizationRates");
	SYM(mem, "nvmlDeviceGetMemoryInfo");
	SYM(temp, "nvmlDeviceGetTemperature");
	SYM(power, "nvmlDeviceGetPowerUsage");
	if (!SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v3"))
		SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v2");
	if (!init || !nv.count || !nv.handle)
		state = NVML_WIRE_NOSYM;
	else if ((code = init()) != NVML_OK)
		state = NVML_WIRE_INIT;
	/* The library stays loaded until exit: nvmlShutdown is the driver's
	 * business once the process ends. */
out:
	outlen = 4;
	put8(NVML_WIRE_HELLO);
	put8(NVML_WIRE_VERSION);
	put8((uint32_t)state);
	put32((uint32_t)code);
	if (send_frame() < 0)
		return -1;
	return state == NVML_WIRE_READY ? 0 : -1;
}

static void one_gpu(unsigned int i)
{
	nvml_device d;
	char name[NVML_NAME_LEN] = "", uuid[NVML_UUID_LEN] = "";
	struct nvml_utilization u;
	struct nvml_memory m;
	unsigned int v, util = UINT32_MAX, temp = UINT32_MAX, power = UINT32_MAX;
	uint64_t used = UINT64_MAX, total = UINT64_MAX;
	if (nv.handle(i, &d) != NVML_OK) {
		put8(0);
		putstr("", 0);
		putstr("", 0);
		for (int k = 0; k < 3; k++)
			put32(UINT32_MAX);
		put64(UINT64_MAX);
		put64(UINT64_MAX);
		put32(0);
		return;
	}
	if (nv.name && nv.name(d, name, sizeof(name)) != NVML_OK)
		name[0] = '\0';
	if (nv.uuid && nv.uuid(d, uuid, sizeof(uuid)) != NVML_OK)
		uuid[0] = '\0';
	if (nv.util && nv.util(d, &u) == NVML_OK && u.gpu <= 100)
		util = u.gpu;
	if (nv.mem && nv.mem(d, &m) == NVML_OK) {
		used = m.used;
		total = m.total;
	}
	if (nv.temp && nv.temp(d, NVML_TEMP_GPU, &v) == NVML_OK)
		temp = v;
	if (nv.power && nv.power(d, &v) == NVML_OK)
		power = v;
	put8(1);
	putstr(name, sizeof(name) - 1);
	putstr(uuid, sizeof(uuid) - 1);
	put32(util);
	put32(temp);
	put32(power);
	put64(used);
	put64(total);
	/* Ask for the count, then fetch; processes may start in between, so
	 * one more try with the new count.  At most PROCS_MAX are sent. */
	unsigned int np = 0;
	nvml_return r = NVML_E_NOT_SUPPORTED;
	if (nv.procs) {
		r = nv.procs(d, &np, NULL);
		for (int tries = 0; tries < 2 && r == NVML_E_INSUFFICIENT_SIZE; tries++) {
			np = sizeof(pinfo) / sizeof(pinfo[0]);
			r = nv.procs(d, &np, pinfo);
		}
	}
	if (r != NVML_OK || np > sizeof(pinfo) / sizeof(pinfo[0]))
		np = 0;
	if (np > PROCS_MAX)
		np = PROCS_MAX;
	put32(np);
	for (unsigned int k = 0; k < np; k++) {
		put32(pinfo[k].pid);
		put64(pinfo[k].used_gpu_memory == NVML_VALUE_NA ? UINT64_MAX : pinfo[k].used_gpu_memory);
	}
}

static int sample(void)
{
	unsigned int cnt = 0;
	nvml_return r = nv.count(&cnt);
	outlen = 4;
	put8(NVML_WIRE_SAMPLE);
	put32((uint32_t)r);
	if (r == NVML_OK) {
		if (cnt > GPUS_MAX)
			cnt = GPUS_MAX;
		put32(cnt);
		for (unsigned int i = 0; i < cnt; i++)
			one_gpu(i);
	}
	return send_frame();
}

static int helper_main(void)
{
	if (hello() < 0)
		return 1;
	/* Requests are fixed: a frame of length 1 holding NVML_WIRE_REQ. */
	for (;;) {
		uint8_t req[5];
		if (xfer(0, req, sizeof(req), 0) < 0)
			return 0;
		if (req[0] || req[1] || req[2] || req[3] != 1 || req[4] != NVML_WIRE_REQ)
			return 2;
		if (sample() < 0)
			return 0;
	}
}

/* The entry: no crt1.o (see the top).  On ppc64le the loader does not
 * promise r12 = entry, which a C function needs to find its TOC, so a
 * few instructions set r2 and a 16-aligned frame first. */
void helper_entry(void);
void helper_entry(void)
{
	_exit(helper_main());
}

#if defined(__powerpc64__)
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\tbcl 20,31,1f\n"
	"1:\tmflr 12\n"
	"\taddis 2,12,.TOC.-1b@ha\n"
	"\taddi 2,2,.TOC.-1b@l\n"
	"\tclrrdi 1,1,4\n"
	"\tli 0,0\n"
	"\tstdu 0,-128(1)\n"
	"\tbl helper_entry\n"
	"\tnop\n"
	".size _start,.-_start\n");
#else
void _start(void);
#if defined(__x86_64__)
/* The kernel leaves the stack 16-aligned, not as after a call. */
__attribute__((force_align_arg_pointer))
#endif
void _start(void)
{
	helper_entry();
}
#endif
