/*
 * mon-proc.h - parsers for the /proc files the sampler reads.
 *
 * Pure functions over the bytes of one file (as read, possibly cut short
 * at MON_PROC_FILE_MAX): they never open anything, so unit tests feed
 * them recorded samples and the fuzzer feeds them anything.  A field that
 * is missing or malformed is left at MON_NA / MON_NA64; a line that does
 * not parse is skipped.  They return 0, or -1 when the file held nothing
 * usable.
 */
#ifndef FERRY_MON_PROC_H
#define FERRY_MON_PROC_H

#include <stddef.h>
#include <stdint.h>

/* One "cpu" / "cpuN" line of /proc/stat, in jiffies. */
struct mp_cpu {
	uint32_t id;		/* N, or MON_NA for the "cpu" total line */
	uint64_t busy;		/* user nice system irq softirq steal */
	uint64_t total;		/* busy + idle + iowait */
};
/* *total gets the "cpu" line; cores[] the cpuN lines in file order (at
 * most max, *ncores set). */
int mp_stat(const char *p, size_t n, struct mp_cpu *total, struct mp_cpu *cores, uint32_t max, uint32_t *ncores);

struct mp_mem {
	uint64_t total, avail, swap_total, swap_free;	/* bytes */
};
int mp_meminfo(const char *p, size_t n, struct mp_mem *m);
/* "0.52 0.40 0.31 2/345 6789": loads x100, the number of tasks, and the
 * last pid handed out in the reader's pid namespace (MON_NA if unknown). */
int mp_loadavg(const char *p, size_t n, uint32_t load[3], uint32_t *tasks, uint32_t *last_pid);
/* /proc/pressure/X: "some avg10=" x100. */
int mp_pressure(const char *p, size_t n, uint32_t *some_avg10);
/* /proc/uptime: whole seconds. */
int mp_uptime(const char *p, size_t n, uint64_t *secs);

/* /proc/PID/stat.  comm is everything between the first '(' and the last
 * ')': a process may call itself "a) (b". */
#define MP_COMM_MAX 64
struct mp_pstat {
	uint32_t pid, ppid, pgrp, session;
	char state;
	char comm[MP_COMM_MAX];
	uint32_t flags;
	uint64_t utime, stime;	/* jiffies */
	uint32_t threads;
	uint64_t starttime;	/* jiffies after boot: tells a reused pid apart */
	uint64_t rss_pages;
};
#define MP_PF_KTHREAD 0x00200000u
int mp_pid_stat(const char *p, size_t n, struct mp_pstat *s);

/* /proc/PID/schedstat: "runtime_ns run_delay_ns timeslices", the first
 * field being the time the task (the thread group's leader, for
 * /proc/PID) has spent on a CPU.  A kernel without schedstats prints
 * "0 0 0": a runtime of 0 means unknown to the caller. */
int mp_pid_schedstat(const char *p, size_t n, uint64_t *runtime_ns);

/* /proc/PID/statm: "size resident shared text lib data dt", in pages;
 * resident is the same figure as stat's rss. */
int mp_pid_statm(const char *p, size_t n, uint64_t *rss_pages);

/* /proc/PID/status: real uid, threads, resident set. */
struct mp_pstatus {
	uint32_t uid, threads;
	uint64_t rss;		/* bytes */
};
int mp_pid_status(const char *p, size_t n, struct mp_pstatus *s);
/* /proc/PID/io: bytes that reached the block layer. */
int mp_pid_io(const char *p, size_t n, uint64_t *read_bytes, uint64_t *write_bytes);

/* /proc/PID/cmdline (NUL-separated arguments, possibly cut short): the
 * arguments joined by spaces, trailing NULs and spaces dropped; "" for
 * none (a kernel thread).  Caller frees. */
char *mp_cmdline(const char *p, size_t n);

/* /proc/diskstats: sectors (512 bytes) read and written by major:minor. */
int mp_diskstats(const char *p, size_t n, uint32_t major, uint32_t minor, uint64_t *rd_sect, uint64_t *wr_sect);
/* /proc/net/dev: bytes received and sent by every interface but lo. */
int mp_netdev(const char *p, size_t n, uint64_t *rx, uint64_t *tx);

/* now - before, or 0 when the counter went backwards (wrap, reset). */
uint64_t mp_delta(uint64_t now, uint64_t before);

#endif
