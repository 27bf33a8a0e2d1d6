/*
 * mon-gpu.c - GPUs through NVML (dlopen) or nvidia-smi (see mon-gpu.h).
 *
 * NVML is loaded at run time so that nothing NVIDIA is needed to build
 * ferry or to run it on a machine without GPUs.  nvidia-smi costs a
 * process per run (and `-q -x` is ~50x slower than --query-gpu, so it is
 * never used): it runs at most every MON_SMI_PERIOD_MS, in between the
 * last answer is reused.
 *
 * The static agent (FERRY_STATIC) cannot dlopen: it carries
 * ferry-nvml (nvml-helper.c), a tiny dynamically linked program, runs it
 * once and asks it for one sample per read over a pipe (nvml-wire.h).
 * The helper is made executable from memory (memfd) or, where that is
 * refused, as a file beside the agent; if it dies it is restarted with a
 * backoff.  Its stderr goes to /dev/null: the agent's stdout is the
 * protocol, and the helper never gets it.
 */
#define _GNU_SOURCE
#include "mon-gpu.h"

#ifndef FERRY_STATIC
#include <dlfcn.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "limits.h"
#include "mon-nvml.h"
#include "mon-text.h"
#include "nvml-wire.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

struct gpusrc {
	enum mon_gpu_source kind;
	char *note;
	/* NVML */
	void *dl;
	nvml_return (*shutdown)(void);
	nvml_return (*count)(unsigned int *);
	nvml_return (*handle)(unsigned int, nvml_device *);
	nvml_return (*name)(nvml_device, char *, unsigned int);
	nvml_return (*uuid)(nvml_device, char *, unsigned int);
	nvml_return (*util)(nvml_device, struct nvml_utilization *);
	nvml_return (*mem)(nvml_device, struct nvml_memory *);
	nvml_return (*temp)(nvml_device, int, unsigned int *);
	nvml_return (*power)(nvml_device, unsigned int *);
	nvml_return (*procs)(nvml_device, unsigned int *, struct nvml_process *);
#ifdef FERRY_STATIC
	/* the helper, when it runs: pid > 0 */
	struct child helper;
	char *helper_exe;	/* what to exec; NULL until made */
	int helper_fd;		/* the memfd behind helper_exe, or -1 */
	uint64_t helper_since, retry_at;	/* monotonic ns */
	uint32_t backoff_ms;
#endif
	/* nvidia-smi */
	char *fallback;		/* why NVML is not used, "" if it is absent */
	uint64_t smi_at;
	struct mon_gpu *cache;
	uint32_t ncache;
	int smi_rc;
};

static const char *nvml_reason(nvml_return r)
{
	switch (r) {
	case NVML_E_UNINITIALIZED: return "not initialised";
	case NVML_E_NOT_SUPPORTED: return "not supported";
	case NVML_E_DRIVER_NOT_LOADED: return "driver not loaded";
	case NVML_E_GPU_IS_LOST: return "GPU lost";
	case NVML_E_LIB_RM_VERSION_MISMATCH: return "driver/library version mismatch";
	default: return "error";
	}
}

const char *smi_exit_reason(int code)
{
	switch (code) {
	case 9: return "driver not loaded";
	case 18: return "driver/library version mismatch";
	case 127: return "not found";
	default: return "failed";
	}
}

void mon_gpus_free(struct mon_gpu *gpus, uint32_t n)
{
	for (uint32_t i = 0; gpus && i < n; i++) {
		free(gpus[i].name);
		free(gpus[i].uuid);
		free(gpus[i].procs);
	}
	free(gpus);
}

static void set_note(struct gpusrc *g, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void set_note(struct gpusrc *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(g->note);
	g->note = xvasprintf(fmt, ap);
	va_end(ap);
}

#ifndef FERRY_STATIC
#define SYM(field, name) (*(void **)&g->field = dlsym(g->dl, name))

/* 0 when NVML is loaded and initialised; otherwise the note says why
 * ("" when the library is simply not there). */
static int nvml_open(struct gpusrc *g)
{
	nvml_return (*init)(void);
	g->dl = dlopen(NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (g->dl == NULL)
		return -1;
	*(void **)&init = dlsym(g->dl, "nvmlInit_v2");
	SYM(shutdown, "nvmlShutdown");
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
	if (!init || !g->shutdown || !g->count || !g->handle) {
		set_note(g, "NVML: %s lacks nvmlInit_v2 or the device calls", NVML_LIBRARY);
		goto fail;
	}
	nvml_return r = init();
	if (r != NVML_OK) {
		set_note(g, "NVML: init failed: %s (code %d)", nvml_reason(r), r);
		goto fail;
	}
	return 0;
fail:
	dlclose(g->dl);
	g->dl = NULL;
	return -1;
}

static void nvml_close(struct gpusrc *g)
{
	if (g->dl) {
		g->shutdown();
		dlclose(g->dl);
	}
}
#endif

#ifdef FERRY_STATIC
/* The helper binary, linked in by nvml-blob.o (mk/nvml.mk). */
extern const unsigned char ferry_nvml_blob[], ferry_nvml_blob_end[];

#define HELPER_HELLO_MS		10000	/* nvmlInit can take seconds without persistence mode */
#define HELPER_SAMPLE_MS	5000
#define HELPER_BACKOFF_MIN_MS	1000
#define HELPER_BACKOFF_MAX_MS	60000
#define HELPER_NAME		"ferry-nvml"

static int blob_write(int fd)
{
	return write_all(fd, ferry_nvml_blob, (size_t)(ferry_nvml_blob_end - ferry_nvml_blob));
}

/* From memory: a memfd, reopened read-only (a file open for writing
 * cannot be executed: ETXTBSY) and run as /proc/self/fd/N. */
static int helper_memfd(struct gpusrc *g)
{
	int fd = memfd_create(HELPER_NAME, MFD_CLOEXEC), ro = -1;
	if (fd < 0)
		return -1;
	if (blob_write(fd) == 0) {
		char *p = xasprintf("/proc/self/fd/%d", fd);
		ro = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
	}
	close(fd);
	if (ro < 0)
		return -1;
	g->helper_fd = ro;
	g->helper_exe = xasprintf("/proc/self/fd/%d", ro);
	return 0;
}

/* As a file: 0700 beside the agent (its own private folder), written to
 * a temporary name and renamed, so a concurrent agent never runs half a
 * file. */
static int helper_file(struct gpusrc *g)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	const char *dir = dirname(exe);
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, HELPER_NAME, (long)getpid());
	char *dst = xasprintf("%s/%s", dir, HELPER_NAME);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700), rc = -1;
	if (fd >= 0) {
		rc = blob_write(fd);
		if (close(fd) < 0)
			rc = -1;
		if (rc == 0 && rename(tmp, dst) < 0)
			rc = -1;
		if (rc < 0)
			unlink(tmp);
	}
	free(tmp);
	if (rc == 0)
		g->helper_exe = dst;
	else
		free(dst);
	return rc;
}

static void helper_stop(struct gpusrc *g)
{
	if (g->helper.pid <= 0)
		return;
	child_close(&g->helper);
	kill(g->helper.pid, SIGKILL);
	int st;
	(void)wait_child(g->helper.pid, &st);
	g->helper.pid = -1;
}

/* One frame's body into b, waiting at most ms.  0, or -1 (EOF, timeout,
 * a length over the cap). */
static int helper_frame(struct gpusrc *g, struct buf *b, int ms)
{
	uint64_t deadline = now_mono_ns() + (uint64_t)ms * 1000000u;
	size_t need = 4;
	bool have_len = false;
	buf_reset(b);
	while (b->len < need) {
		uint64_t now = now_mono_ns();
		if (now >= deadline)
			return -1;
		struct pollfd pf = { .fd = g->helper.out, .events = POLLIN };
		int pr = poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1);
		if (pr < 0 && errno != EINTR)
			return -1;
		if (pr <= 0)
			continue;
		uint8_t *sp = buf_space(b, need - b->len);
		if (sp == NULL)
			return -1;
		ssize_t r = read(g->helper.out, sp, need - b->len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		buf_commit(b, (size_t)r);
		if (!have_len && b->len == 4) {
			struct rd rl;
			rd_init(&rl, b->data, 4);
			uint32_t len = rd_u32(&rl);
			if (len == 0 || len > NVML_WIRE_FRAME_MAX)
				return -1;
			buf_reset(b);
			need = len;
			have_len = true;
		}
	}
	return 0;
}

/* Starts the helper and reads its HELLO.  0 when NVML is ready there;
 * otherwise the note says why ("" when there is no library, or no
 * dynamic loader to run the helper with). */
static int helper_start(struct gpusrc *g)
{
	struct spawn_opts o = { .in = SPAWN_PIPE, .out = SPAWN_PIPE, .err = SPAWN_NULL };
	struct nvml_hello h;
	struct buf b;
	int rc = -ENOEXEC;
	set_note(g, "%s", "");
	if (g->helper_exe == NULL && helper_memfd(g) < 0 && helper_file(g) < 0) {
		set_note(g, "NVML: cannot write the helper beside the agent: %s", strerror(errno));
		return -1;
	}
	for (int tries = 0; tries < 2; tries++) {
		char *argv[] = { g->helper_exe, NULL };
		rc = spawn(argv, &o, &g->helper);
		if (rc >= 0 || g->helper_fd < 0 || (rc != -EACCES && rc != -EPERM))
			break;
		/* memfd refused (vm.memfd_noexec, an LSM): a file.  Other
		 * errors (no loader, a foreign architecture under qemu-user)
		 * would fail the same from a file. */
		close(g->helper_fd);
		g->helper_fd = -1;
		free(g->helper_exe);
		g->helper_exe = NULL;
		if (helper_file(g) < 0)
			break;
	}
	if (rc < 0) {
		g->helper.pid = -1;
		/* ENOENT: no glibc loader on this host (musl), so no NVML either. */
		if (rc != -ENOENT)
			set_note(g, "NVML: cannot run the helper: %s", strerror(-rc));
		return -1;
	}
	g->helper_since = now_mono_ns();
	buf_init(&b, NVML_WIRE_FRAME_MAX);
	rc = -1;
	if (helper_frame(g, &b, HELPER_HELLO_MS) < 0 || nvml_wire_hello_decode(b.data, b.len, &h) < 0)
		set_note(g, "NVML: the helper did not answer");
	else if (h.state == NVML_WIRE_NOSYM)
		set_note(g, "NVML: %s lacks nvmlInit_v2 or the device calls", NVML_LIBRARY);
	else if (h.state == NVML_WIRE_INIT)
		set_note(g, "NVML: init failed: %s (code %d)", nvml_reason(h.code), h.code);
	else if (h.state == NVML_WIRE_READY)
		rc = 0;
	buf_release(&b);
	if (rc < 0)
		helper_stop(g);
	return rc;
}

static int nvml_open(struct gpusrc *g)
{
	g->helper.pid = -1;
	g->helper_fd = -1;
	g->backoff_ms = HELPER_BACKOFF_MIN_MS;
	return helper_start(g);
}

static void nvml_close(struct gpusrc *g)
{
	helper_stop(g);
	if (g->helper_fd >= 0)
		close(g->helper_fd);
	free(g->helper_exe);
}

/* A helper that failed is stopped and tried again after a backoff that
 * doubles up to HELPER_BACKOFF_MAX_MS; one that served that long is
 * forgiven. */
static void helper_failed(struct gpusrc *g, const char *why)
{
	char *prev = xstrdup(g->note[0] ? g->note : "NVML: the helper did not start");
	uint64_t now = now_mono_ns();
	helper_stop(g);
	if (now - g->helper_since >= (uint64_t)HELPER_BACKOFF_MAX_MS * 1000000u)
		g->backoff_ms = HELPER_BACKOFF_MIN_MS;
	g->retry_at = now + (uint64_t)g->backoff_ms * 1000000u;
	if (why)
		set_note(g, "NVML: the helper %s; trying again in %u s", why, g->backoff_ms / 1000);
	else
		set_note(g, "%s; trying again in %u s", prev, g->backoff_ms / 1000);
	free(prev);
	g->backoff_ms = g->backoff_ms * 2 > HELPER_BACKOFF_MAX_MS ? HELPER_BACKOFF_MAX_MS : g->backoff_ms * 2;
}

static int nvml_read(struct gpusrc *g, struct mon_gpu **out, uint32_t *n)
{
	static const uint8_t req[5] = { 0, 0, 0, 1, NVML_WIRE_REQ };
	struct buf b;
	int32_t code;
	int rc = -1;
	if (g->helper.pid <= 0) {
		if (now_mono_ns() < g->retry_at)
			return -1;
		if (helper_start(g) < 0) {
			helper_failed(g, NULL);
			return -1;
		}
	}
	buf_init(&b, NVML_WIRE_FRAME_MAX);
	if (write_all(g->helper.in, req, sizeof(req)) < 0 || helper_frame(g, &b, HELPER_SAMPLE_MS) < 0) {
		helper_failed(g, "stopped answering");
	} else if (nvml_wire_sample_decode(b.data, b.len, &code, out, n) < 0) {
		helper_failed(g, "sent a sample that does not decode");
	} else if (code != NVML_OK) {
		set_note(g, "NVML: cannot count GPUs: %s (code %d)", nvml_reason(code), code);
	} else {
		set_note(g, "%s", "");
		rc = 0;
	}
	buf_release(&b);
	return rc;
}
#endif

static char *find_smi(void)
{
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL, *res = NULL;
	for (char *d = strtok_r(copy, ":", &save); d && !res; d = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/nvidia-smi", d);
		if (access(f, X_OK) == 0)
			res = f;
		else
			free(f);
	}
	free(copy);
	return res;
}

struct gpusrc *gpusrc_new(void)
{
	struct gpusrc *g = xcalloc(1, sizeof(*g));
	g->note = xstrdup("");
	if (nvml_open(g) == 0) {
		g->kind = MON_GPU_NVML;
		return g;
	}
	char *smi = find_smi();
	if (smi) {
		g->kind = MON_GPU_SMI;
		g->fallback = xstrdup(g->note);
		free(smi);
	} else if (g->note[0]) {
		char *n = xasprintf("%s; no nvidia-smi on PATH", g->note);
		free(g->note);
		g->note = n;
	}
	return g;
}

void gpusrc_free(struct gpusrc *g)
{
	if (g == NULL)
		return;
	nvml_close(g);
	mon_gpus_free(g->cache, g->ncache);
	free(g->note);
	free(g->fallback);
	free(g);
}

enum mon_gpu_source gpusrc_kind(const struct gpusrc *g)
{
	return g->kind;
}

const char *gpusrc_note(const struct gpusrc *g)
{
	return g->note;
}

static void add_proc(struct mon_gpu *gp, uint32_t pid, uint64_t mem)
{
	if (gp->nprocs >= MON_GPU_PROCS_MAX)
		return;
	gp->procs = xrealloc(gp->procs, (gp->nprocs + 1) * sizeof(*gp->procs));
	gp->procs[gp->nprocs++] = (struct mon_gpu_proc){ pid, MON_NA, mem, MON_NOJOB };
}

#ifndef FERRY_STATIC
static int nvml_read(struct gpusrc *g, struct mon_gpu **out, uint32_t *n)
{
	unsigned int cnt = 0;
	nvml_return r = g->count(&cnt);
	if (r != NVML_OK) {
		set_note(g, "NVML: cannot count GPUs: %s (code %d)", nvml_reason(r), r);
		return -1;
	}
	if (cnt > MON_GPUS_MAX)
		cnt = MON_GPUS_MAX;
	struct mon_gpu *gpus = xcalloc(cnt ? cnt : 1, sizeof(*gpus));
	for (unsigned int i = 0; i < cnt; i++) {
		struct mon_gpu *gp = &gpus[i];
		nvml_device d;
		char name[NVML_NAME_LEN] = "", uuid[NVML_UUID_LEN] = "";
		struct nvml_utilization u;
		struct nvml_memory m;
		unsigned int v;
		gp->index = i;
		gp->util = gp->temp = gp->power_mw = MON_NA;
		gp->mem_used = gp->mem_total = MON_NA64;
		if (g->handle(i, &d) != NVML_OK) {
			gp->name = xstrdup("?");
			gp->uuid = xstrdup("");
			continue;
		}
		if (g->name && g->name(d, name, sizeof(name)) != NVML_OK)
			name[0] = '\0';
		if (g->uuid && g->uuid(d, uuid, sizeof(uuid)) != NVML_OK)
			uuid[0] = '\0';
		name[sizeof(name) - 1] = uuid[sizeof(uuid) - 1] = '\0';
		gp->name = xstrdup(name[0] ? name : "?");
		gp->uuid = xstrdup(uuid);
		if (g->util && g->util(d, &u) == NVML_OK && u.gpu <= 100)
			gp->util = u.gpu;
		if (g->mem && g->mem(d, &m) == NVML_OK) {
			gp->mem_used = m.used;
			gp->mem_total = m.total;
		}
		if (g->temp && g->temp(d, NVML_TEMP_GPU, &v) == NVML_OK)
			gp->temp = v;
		if (g->power && g->power(d, &v) == NVML_OK)
			gp->power_mw = v;
		if (g->procs == NULL)
			continue;
		/* Ask for the count, then fetch; processes may start in between,
		 * so retry once with the new count. */
		struct nvml_process *pi = NULL;
		unsigned int np = 0;
		r = g->procs(d, &np, NULL);
		for (int tries = 0; tries < 2 && r == NVML_E_INSUFFICIENT_SIZE; tries++) {
			if (np > MON_GPU_PROCS_MAX)
				np = MON_GPU_PROCS_MAX;
			unsigned int room = np + 4;
			pi = xrealloc(pi, room * sizeof(*pi));
			np = room;
			r = g->procs(d, &np, pi);
		}
		if (r == NVML_OK)
			for (unsigned int k = 0; pi && k < np && k < MON_GPU_PROCS_MAX; k++)
				add_proc(gp, pi[k].pid, pi[k].used_gpu_memory == NVML_VALUE_NA ? MON_NA64 : pi[k].used_gpu_memory);
		free(pi);
	}
	*out = gpus;
	*n = cnt;
	return 0;
}

#endif

/* Splits one CSV line at commas; fields have their leading blanks and
 * trailing spaces dropped.  Returns the number of fields (at most max),
 * -1 when there are more. */
static int csv_split(struct rd *l, struct rd *f, int max)
{
	int k = 0;
	for (;;) {
		tx_skip_blank(l);
		size_t start = l->off, end = start;
		int c;
		while ((c = tx_peek(l)) >= 0 && c != ',') {
			(void)rd_bytes(l, 1);
			if (c != ' ' && c != '\r')
				end = l->off;
		}
		if (k == max)
			return -1;
		rd_init(&f[k++], l->p ? l->p + start : NULL, end - start);
		if (c != ',')
			return k;
		(void)rd_bytes(l, 1);
	}
}

/* A numeric field: value x100, MON_NA64 for [N/A], [Not Supported] and
 * anything else that is not a plain number. */
static uint64_t csv_num100(struct rd f)
{
	uint64_t v = tx_fixed100(&f);
	return rd_ok(&f) && tx_eof(&f) ? v : MON_NA64;
}

static uint32_t as_u32(uint64_t v100, uint64_t scale_num, uint64_t scale_den)
{
	if (v100 == MON_NA64)
		return MON_NA;
	uint64_t v = v100 / 100 * scale_num + v100 % 100 * scale_num / 100;
	v /= scale_den;
	return v < MON_NA ? (uint32_t)v : MON_NA;
}

static char *field_str(struct rd f)
{
	size_t n = rd_left(&f);
	const uint8_t *p = rd_bytes(&f, n);
	char *s = xstrndup(p ? (const char *)p : "", n > MON_NAME_MAX ? MON_NAME_MAX : n);
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	return s;
}

int smi_parse_gpus(const char *p, size_t n, struct mon_gpu **gpus, uint32_t *ngpus)
{
	struct rd in;
	int bad = 0;
	rd_init(&in, p, n);
	*gpus = xcalloc(1, sizeof(**gpus));
	*ngpus = 0;
	while (!tx_eof(&in)) {
		struct rd l = tx_line(&in), f[MON_SMI_FIELDS_MAX];
		if (rd_left(&l) == 0)
			continue;
		int k = csv_split(&l, f, MON_SMI_FIELDS_MAX);
		if (k < 8 || *ngpus >= MON_GPUS_MAX) {
			bad = 1;
			continue;
		}
		uint64_t idx = csv_num100(f[0]);
		if (idx == MON_NA64 || idx % 100) {
			bad = 1;
			continue;
		}
		/* The name may hold commas: it is every field between uuid
		 * and the five numbers at the end. */
		struct rd name = f[2];
		if (k > 8)
			rd_init(&name, f[2].p, (size_t)(f[k - 6].p + f[k - 6].len - f[2].p));
		*gpus = xrealloc(*gpus, (*ngpus + 1) * sizeof(**gpus));
		struct mon_gpu *g = &(*gpus)[(*ngpus)++];
		memset(g, 0, sizeof(*g));
		g->index = (uint32_t)(idx / 100);
		g->uuid = field_str(f[1]);
		g->name = field_str(name);
		g->util = as_u32(csv_num100(f[k - 5]), 1, 1);
		uint64_t mu = csv_num100(f[k - 4]), mt = csv_num100(f[k - 3]);
		g->mem_used = mu == MON_NA64 ? MON_NA64 : mu / 100 * 1048576;
		g->mem_total = mt == MON_NA64 ? MON_NA64 : mt / 100 * 1048576;
		g->temp = as_u32(csv_num100(f[k - 2]), 1, 1);
		g->power_mw = as_u32(csv_num100(f[k - 1]), 1000, 1);
	}
	return bad ? -1 : 0;
}

int smi_parse_apps(const char *p, size_t n, struct mon_gpu *gpus, uint32_t ngpus)
{
	struct rd in;
	int bad = 0;
	rd_init(&in, p, n);
	while (!tx_eof(&in)) {
		struct rd l = tx_line(&in), f[3];
		if (rd_left(&l) == 0)
			continue;
		if (csv_split(&l, f, 3) != 3) {
			bad = 1;
			continue;
		}
		uint64_t pid = csv_num100(f[1]), mem = csv_num100(f[2]);
		if (pid == MON_NA64 || pid % 100 || pid / 100 >= MON_NA) {
			bad = 1;
			continue;
		}
		size_t ul = rd_left(&f[0]);
		for (uint32_t i = 0; i < ngpus; i++)
			if (strlen(gpus[i].uuid) == ul && ul && memcmp(gpus[i].uuid, f[0].p, ul) == 0)
				add_proc(&gpus[i], (uint32_t)(pid / 100), mem == MON_NA64 ? MON_NA64 : mem / 100 * 1048576);
	}
	return bad ? -1 : 0;
}

/* Runs nvidia-smi with one query; its stdout in *out.  The exit code, or
 * -1 when it could not run or timed out. */
static int smi_run(const char *query, struct buf *out)
{
	char *argv[] = { "nvidia-smi", (char *)query, "--format=csv,noheader,nounits", NULL };
	return spawn_capture(argv, MON_SMI_TIMEOUT_MS, out, NULL);
}

static void first_line(const struct buf *b, char *dst, size_t dl)
{
	size_t i = 0;
	for (; i < b->len && i + 1 < dl && b->data[i] != '\n'; i++)
		dst[i] = b->data[i] >= 0x20 ? (char)b->data[i] : '?';
	dst[i] = '\0';
}

static int smi_read(struct gpusrc *g)
{
	struct buf b;
	struct mon_gpu *gpus = NULL;
	uint32_t n = 0;
	char line[120];
	buf_init(&b, MON_SMI_OUT_MAX);
	int rc = smi_run("--query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw", &b);
	if (rc != 0) {
		first_line(&b, line, sizeof(line));
		set_note(g, "%s%snvidia-smi: %s (exit %d)%s%s", g->fallback, g->fallback[0] ? "; " : "",
			 rc < 0 ? "did not finish" : smi_exit_reason(rc), rc, line[0] ? ": " : "", line);
		buf_release(&b);
		return -1;
	}
	(void)smi_parse_gpus((const char *)b.data, b.len, &gpus, &n);
	buf_reset(&b);
	rc = smi_run("--query-compute-apps=gpu_uuid,pid,used_memory", &b);
	if (rc == 0)
		(void)smi_parse_apps((const char *)b.data, b.len, gpus, n);
	buf_release(&b);
	mon_gpus_free(g->cache, g->ncache);
	g->cache = gpus;
	g->ncache = n;
	set_note(g, "%s%s%s", g->fallback, g->fallback[0] ? "; using nvidia-smi" : "",
		 rc == 0 ? "" : g->fallback[0] ? ", which cannot list GPU processes" : "nvidia-smi cannot list GPU processes");
	return 0;
}

static struct mon_gpu *gpus_copy(const struct mon_gpu *src, uint32_t n)
{
	struct mon_gpu *d = xcalloc(n ? n : 1, sizeof(*d));
	for (uint32_t i = 0; i < n; i++) {
		d[i] = src[i];
		d[i].name = xstrdup(src[i].name);
		d[i].uuid = xstrdup(src[i].uuid);
		d[i].procs = xcalloc(src[i].nprocs ? src[i].nprocs : 1, sizeof(*d[i].procs));
		if (src[i].nprocs)
			memcpy(d[i].procs, src[i].procs, src[i].nprocs * sizeof(*d[i].procs));
	}
	return d;
}

int gpusrc_read(struct gpusrc *g, struct mon_gpu **gpus, uint32_t *n)
{
	*gpus = NULL;
	*n = 0;
	if (g->kind == MON_GPU_NVML)
		return nvml_read(g, gpus, n);
	if (g->kind != MON_GPU_SMI)
		return 0;
	uint64_t now = now_mono_ns();
	if (g->smi_at == 0 || now - g->smi_at >= (uint64_t)MON_SMI_PERIOD_MS * 1000000u) {
		g->smi_at = now;
		g->smi_rc = smi_read(g);
	}
	if (g->smi_rc < 0)
		return -1;
	*gpus = gpus_copy(g->cache, g->ncache);
	*n = g->ncache;
	return 0;
}
