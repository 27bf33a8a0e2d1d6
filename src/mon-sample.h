/*
 * mon-sample.h - the agent's sampler: reads /proc, the project's
 * filesystem and the GPUs, and turns two readings into a mon_sample
 * (rates over the time between them), with usage attributed to users and
 * to ferry jobs.
 *
 * Cost is the design constraint (≤ 0.3% of one core at 1 Hz, on a host
 * with a thousand processes too): per sample it reads each process's
 * /proc/PID/schedstat through a kept-open fd, /proc/PID/stat (and the
 * owner of that file) only for the processes that may have changed since
 * (mon-sample.c says which), and /proc/PID/status and /proc/PID/io only
 * for the processes it reports.  Host files stay open and are re-read
 * with pread at offset 0.
 */
#ifndef FERRY_MON_SAMPLE_H
#define FERRY_MON_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "mon-jobs.h"
#include "mon-proc.h"
#include "mon.h"

/* One process as one sampler pass sees it. */
struct mon_pent {
	uint32_t pid, ppid, uid, session;
	uint32_t cpu;		/* percent of one core x100, over the last interval */
	uint32_t threads;
	uint64_t rss, gpu_mem, gpus;
	uint64_t starttime, ticks;
	uint64_t io_r, io_w, io_at;	/* last /proc/PID/io reading (io_at 0: none) */
	uint16_t job;
	uint8_t state, kthread;
	char comm[MP_COMM_MAX];
	uint32_t ruid;		/* real uid from its last /proc/PID/status, MON_NA: none */
	uint8_t idle;		/* did not run since the previous sample: carried over */
};

/* Attribution, pure.  p sorted by pid.  Fills s->users (names from
 * uname(arg, uid), copied) and s->jobs from jobs (only running jobs get
 * processes: those whose session id is the job's sid), sets each process's
 * job and GPU memory, and each GPU process's uid and job (a pid not in p
 * — another container — keeps uid MON_NA and no job). */
void mon_attribute(struct mon_sample *s, struct mon_pent *p, size_t n, const struct mon_jobrec *jobs, int njobs,
		   const char *(*uname)(void *arg, uint32_t uid), void *arg);
/* Copies into s->procs the k processes using most CPU, the k using most
 * memory, and every process holding GPU memory (at most MON_PROCS_MAX). */
void mon_pick_procs(struct mon_sample *s, const struct mon_pent *p, size_t n, uint32_t k);

struct sampler;
/* root: the project folder (need not exist: its nearest existing parent
 * gives the filesystem).  jobs_dir: NULL for mon_jobs_dir().  One sampler
 * at a time: it raises the soft RLIMIT_NOFILE while it lives and
 * sampler_free puts it back. */
struct sampler *sampler_new(const char *root, const char *jobs_dir);
/* The same over another /proc (tests: a recorded tree; files it lacks
 * are missing metrics). */
struct sampler *sampler_new_at(const char *proc, const char *root, const char *jobs_dir);
void sampler_free(struct sampler *sm);
/* The per-process files it keeps open (at most MON_PID_FDS_MAX, and half
 * of RLIMIT_NOFILE, raised towards the hard limit). */
size_t sampler_fds(const struct sampler *sm);
/* A reading; rates cover the time since the previous one (the first call
 * gives rates of MON_NA).  Fills *out, which the caller releases. */
void sampler_take(struct sampler *sm, uint32_t nprocs, struct mon_sample *out);

#endif
