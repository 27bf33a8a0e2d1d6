/*
 * mon.h - one monitoring sample of a server: host, disk, network, GPUs,
 * and usage attributed to users, ferry jobs and the top processes.
 *
 * The agent fills it (mon-sample.c) and sends it as a MON_SAMPLE frame;
 * the client decodes it through the reader and draws it (`ferry status`,
 * `ferry top`).  A metric the server could not read is MON_NA (u32) or
 * MON_NA64 (u64): unknown, never 0.  Rates are per second over the time
 * since the previous sample; counters that went backwards (wrap, reset,
 * a reused pid) count as 0 for that interval, never as negative.
 *
 * Every string and array in a decoded sample belongs to the sample:
 * mon_sample_release() frees them all.
 */
#ifndef FERRY_MON_H
#define FERRY_MON_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define MON_NA		UINT32_MAX
#define MON_NA64	UINT64_MAX
#define MON_NOJOB	UINT16_MAX	/* a process or GPU process outside every ferry job */

/* Where the GPU figures came from. */
enum mon_gpu_source { MON_GPU_NONE = 0, MON_GPU_NVML = 1, MON_GPU_SMI = 2 };

struct mon_gpu_proc {
	uint32_t pid;
	uint32_t uid;		/* MON_NA when the pid is not visible (container) */
	uint64_t mem;		/* bytes of GPU memory */
	uint16_t job;		/* index into jobs, or MON_NOJOB */
};

struct mon_gpu {
	uint32_t index;
	char *name, *uuid;
	uint32_t util;		/* percent */
	uint32_t temp;		/* degrees C */
	uint32_t power_mw;
	uint64_t mem_used, mem_total;	/* bytes */
	struct mon_gpu_proc *procs;
	uint32_t nprocs;
};

struct mon_user {
	uint32_t uid;
	char *name;
	uint32_t cpu;		/* percent of one core x100 (250% = 25000) */
	uint32_t nprocs;
	uint64_t rss;		/* bytes */
	uint64_t gpu_mem;	/* bytes */
	uint64_t gpus;		/* bit i: uses GPU index i */
};

struct mon_job {
	char *id;
	char *state;		/* the job's state file, first line ("running", ...) */
	uint32_t sid;		/* session id of its processes, 0 if unknown */
	uint32_t cpu, nprocs;
	uint64_t rss, gpu_mem, gpus;
	uint64_t mtime_ns;	/* of the job's folder: how recent it is */
	char *name;		/* the job's name (`run -n`), "" none or unknown */
};

struct mon_proc {
	uint32_t pid, ppid, uid;
	uint32_t cpu;		/* percent of one core x100 */
	uint32_t threads;	/* MON_NA if not read */
	uint64_t rss, gpu_mem;
	uint64_t io_read, io_write;	/* bytes/s from /proc/PID/io, MON_NA64 when not readable */
	uint16_t job;		/* index into jobs, or MON_NOJOB */
	uint8_t state;		/* R S D Z T I ... */
	uint8_t kthread;
	char *name;		/* comm */
	char *cmdline;		/* its arguments joined by spaces (at most
				 * MON_NAME_MAX bytes), "" unknown or none */
};

struct mon_sample {
	uint64_t wall_ns;
	uint32_t interval_ms;	/* time the rates cover */
	char *hostname;
	uint64_t uptime_s;	/* MON_NA64 unknown */
	uint32_t cpu_total;	/* all cores, percent x100 of the whole machine */
	uint32_t *cpu;		/* per core, percent x100 */
	uint32_t ncpu;
	uint32_t load[3];	/* x100 */
	uint32_t psi_cpu, psi_mem, psi_io;	/* "some avg10" x100, MON_NA without PSI */
	uint64_t mem_total, mem_avail, swap_total, swap_free;	/* bytes */
	uint32_t tasks;		/* processes seen */
	char *disk_path;
	uint64_t disk_total, disk_avail;	/* bytes */
	uint64_t disk_read, disk_write;		/* bytes/s of the project's block device */
	uint64_t net_rx, net_tx;		/* bytes/s, all interfaces but lo */
	uint8_t gpu_source;	/* enum mon_gpu_source */
	char *gpu_note;		/* why there are no GPU figures, or "" */
	struct mon_gpu *gpus;
	uint32_t ngpus;
	struct mon_user *users;
	uint32_t nusers;
	struct mon_job *jobs;
	uint32_t njobs;
	struct mon_proc *procs;
	uint32_t nprocs;
};

void mon_sample_release(struct mon_sample *s);	/* s may be zeroed */
int mon_sample_encode(const struct mon_sample *s, struct buf *out);
/* 0, or -1 (reader failed) with s released. */
int mon_sample_decode(struct rd *r, struct mon_sample *s);

/* MON_REQ: what the client asks the sampler for. */
struct mon_req {
	uint32_t interval_ms;	/* between samples */
	uint32_t count;		/* samples to send, 0 = until MON_STOP */
	uint32_t nprocs;	/* top processes by CPU and by memory, each */
	uint32_t flags;		/* none defined: must be 0 */
	char *root;		/* the project folder (disk figures) */
};
void mon_req_release(struct mon_req *q);
int mon_req_encode(const struct mon_req *q, struct buf *out);
int mon_req_decode(struct rd *r, struct mon_req *q);

/* MON_KILL: u32 wire signal, string job id; MON_KILL_REPLY: u32 0 or an
 * errno, string message. */
int mon_kill_encode(const char *job, uint32_t wsig, struct buf *out);
int mon_kill_decode(struct rd *r, char **job, uint32_t *wsig);
int mon_kill_reply_encode(uint32_t err, const char *msg, struct buf *out);
int mon_kill_reply_decode(struct rd *r, uint32_t *err, char **msg);

/* Index of the job with this id in s, or -1. */
int mon_job_find(const struct mon_sample *s, const char *id);
/* The user name for uid in s, or NULL. */
const char *mon_user_name(const struct mon_sample *s, uint32_t uid);

#endif
