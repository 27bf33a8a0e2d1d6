/*
 * fake-nvml.c - a stand-in libnvidia-ml.so.1 for the tests, built by the
 * suite (soname libnvidia-ml.so.1) and found through LD_LIBRARY_PATH.
 *
 * Two GPUs.  $FAKE_NVML_CONF names a file read on every call:
 *   init N          nvmlInit_v2 returns N (9: driver not loaded)
 *   proc GPU PID MIB   a compute process on GPU
 *   abort           nvmlDeviceGetCount_v2 aborts the process (a helper
 *                   that dies under the static agent)
 * GPU 1 has no power reading (NOT_SUPPORTED), to check that unknown is
 * not shown as 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mem { unsigned long long total, free, used; };
struct util { unsigned int gpu, memory; };
struct proc { unsigned int pid; unsigned long long mem; unsigned int gi, ci; };

static int conf_init(void)
{
	const char *f = getenv("FAKE_NVML_CONF");
	FILE *fp = f ? fopen(f, "r") : NULL;
	char line[256];
	int v = 0;
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "init %d", &v) == 1)
			break;
	if (fp)
		fclose(fp);
	return v;
}

static int conf_has(const char *word)
{
	const char *f = getenv("FAKE_NVML_CONF");
	FILE *fp = f ? fopen(f, "r") : NULL;
	char line[256];
	int found = 0;
	while (fp && fgets(line, sizeof(line), fp))
		if (strncmp(line, word, strlen(word)) == 0 && line[strlen(word)] == '\n')
			found = 1;
	if (fp)
		fclose(fp);
	return found;
}

static unsigned int conf_procs(unsigned int gpu, struct proc *out, unsigned int max)
{
	const char *f = getenv("FAKE_NVML_CONF");
	FILE *fp = f ? fopen(f, "r") : NULL;
	char line[256];
	unsigned int n = 0, g, pid;
	unsigned long long mib;
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "proc %u %u %llu", &g, &pid, &mib) == 3 && g == gpu) {
			if (out && n < max)
				out[n] = (struct proc){ pid, mib << 20, 0, 0 };
			n++;
		}
	if (fp)
		fclose(fp);
	return n;
}

int nvmlInit_v2(void) { return conf_init(); }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int *n)
{
	if (conf_has("abort"))
		abort();
	*n = 2;
	return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h)
{
	if (i > 1)
		return 2;
	*h = (void *)(unsigned long)(i + 1);
	return 0;
}
static unsigned int idx(void *h) { return (unsigned int)(unsigned long)h - 1; }
int nvmlDeviceGetName(void *h, char *b, unsigned int n) { snprintf(b, n, "Fake GPU %u", idx(h)); return 0; }
int nvmlDeviceGetUUID(void *h, char *b, unsigned int n) { snprintf(b, n, "GPU-fake-%u", idx(h)); return 0; }
int nvmlDeviceGetUtilizationRates(void *h, struct util *u) { u->gpu = idx(h) ? 90 : 10; u->memory = 5; return 0; }
int nvmlDeviceGetMemoryInfo(void *h, struct mem *m)
{
	m->total = 16ull << 30;
	m->used = (idx(h) + 1ull) << 30;
	m->free = m->total - m->used;
	return 0;
}
int nvmlDeviceGetTemperature(void *h, int sensor, unsigned int *t) { *t = sensor == 0 ? 40 + idx(h) : 0; return 0; }
int nvmlDeviceGetPowerUsage(void *h, unsigned int *mw)
{
	if (idx(h) == 1)
		return 3;
	*mw = 100000;
	return 0;
}
int nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *count, struct proc *p)
{
	unsigned int n = conf_procs(idx(h), NULL, 0);
	if (p == NULL || *count < n) {
		*count = n;
		return n ? 7 : 0;
	}
	*count = conf_procs(idx(h), p, *count);
	return 0;
}
