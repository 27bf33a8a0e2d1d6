/*
 * fuzz-proc.c - libFuzzer harness: every /proc parser of the sampler on
 * the same bytes (a file as the kernel, or anything else, wrote it).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "mon-jobs.h"
#include "mon-proc.h"
#include "mon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct mp_cpu tot, cores[8];
	uint32_t n, load[3], tasks, last_pid, psi;
	struct mp_mem m;
	struct mp_pstat ps;
	struct mp_pstatus pst;
	uint64_t a, b;

	if (mp_stat(p, size, &tot, cores, 8, &n) == 0 && n > 8)
		abort();
	(void)mp_meminfo(p, size, &m);
	(void)mp_loadavg(p, size, load, &tasks, &last_pid);
	if (mp_pressure(p, size, &psi) == 0 && psi > 10000)
		abort();
	(void)mp_uptime(p, size, &a);
	(void)mp_pid_statm(p, size, &a);
	(void)mp_pid_schedstat(p, size, &a);
	if (mp_pid_stat(p, size, &ps) == 0 && ps.comm[MP_COMM_MAX - 1] != '\0')
		abort();
	(void)mp_pid_status(p, size, &pst);
	(void)mp_pid_io(p, size, &a, &b);
	free(mp_cmdline(p, size));
	(void)mp_diskstats(p, size, 8, 0, &a, &b);
	(void)mp_netdev(p, size, &a, &b);
	(void)mon_jobs_parse_sid(p, size);
	return 0;
}
