/*
 * job-backend.h - who runs a job: a small interface, one implementation
 * per place a job can run.
 *
 * The record names its backend ("local" for records of every version
 * before there were backends).  Everything that asks whether a job still
 * runs, or signals it, goes through its backend, so a job run by another
 * system (a batch system's job has no supervisor pid on this host) is
 * answered its own way instead of reading as lost.
 *
 * local: the supervisor (job-sup.c) on this host, started at once; alive
 * is "the supervisor the record names is still that process"; signals go
 * over its control socket, or, for a lost job whose processes survived
 * their supervisor, straight to them (job_kill_lost).
 */
#ifndef FERRY_JOB_BACKEND_H
#define FERRY_JOB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

struct job_backend {
	const char *name;
	/* Starts the job whose spec and record (queued) are in its folder
	 * under jobs; j is that record.  Returns once the record says it
	 * runs: 0; 127 or 126 when the command could not be executed (the
	 * job is recorded as failed, *why says why); -errno with *why
	 * when nothing was started.  *why, *warning: caller frees. */
	int (*launch)(const char *jobs, struct job *j, char **why, char **warning);
	/* Does the job the record j says is running still run? */
	bool (*alive)(const struct job *j);
	/* Sends sig to every process of the running or lost job j, then
	 * KILL after grace_ms (0: JOB_KILL_GRACE_MS) unless sig is KILL.
	 * 0 or -errno (-ESRCH: a lost job with no process left). */
	int (*send_signal)(const char *jobs, const struct job *j, int sig, uint32_t grace_ms);
};

extern const struct job_backend job_backend_local;

/* The backend of that name, or NULL when this binary has none. */
const struct job_backend *job_backend_find(const char *name);

/* The local backend's signal to a lost job j (state JOB_LOST): sig to
 * its processes (job_procs_in: its group, and each by its start time);
 * a detached process then sends KILL after grace_ms to what is left and
 * records the job as killed once nothing is.  0, or -ESRCH when none of
 * its processes is left. */
int job_kill_lost(const char *jobs, const struct job *j, int sig, uint32_t grace_ms);

/* A connection to the control socket of local job id's supervisor (the
 * socket in its folder): the fd, or -errno. */
int job_ctl_connect(const char *jobs, uint32_t id);

#endif
