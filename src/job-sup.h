/*
 * job-sup.h - starting a job under its own supervisor (job-sup.c).
 */
#ifndef FERRY_JOB_SUP_H
#define FERRY_JOB_SUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "job.h"

/* The local backend's launch (job-backend.h): j's spec and queued
 * record are in its folder under jobs.  A detached supervisor
 * (job_supervise in a double-forked grandchild) starts it; this returns
 * once the supervisor reported: 0 running; 127 or 126 when the command
 * could not be executed (*why says why); -errno with *why when nothing
 * was started.  *why, *warning: caller frees. */
int job_launch(const char *jobs, struct job *j, char **why, char **warning);

/* The supervisor, from the job's folder alone (`ferry agent supervise
 * DIR`): reads its record (which must say queued) and its spec, starts
 * the command, and owns it until it ends.  rep: the launcher's report
 * pipe (frames MSG_JOB_SUP_*; closed once the job runs), or -1 (messages
 * go to stderr).  Returns the job's status as a shell gives it (128+N
 * for a signal), 1 when it could not be started. */
int job_supervise(const char *dir, int rep);

/* In a process that leaves the agent behind: every fd above 2 but keep
 * goes, and with std the standard ones become /dev/null. */
void job_detach_fds(int keep, bool std);

/* What the supervisor reported on the pipe, frame by frame (fuzzed):
 * 1 after the frame that ends the report (running, noexec, error), 0 for
 * more to come, -1 for a malformed frame.  Release frees the texts. */
struct job_report {
	bool running;
	int noexec;		/* errno of the failed exec */
	char *error;		/* nothing was started: why */
	char *warning;		/* the first warning */
};
int job_report_frame(struct job_report *rp, uint16_t type, struct rd *body);
void job_report_release(struct job_report *rp);

/* The KillUserProcesses= value after reading one logind.conf text
 * ([Login] section; yes/no and synonyms), starting from current (0/1). */
int logind_kill_setting(const char *text, size_t n, int current);

/* JOB_DONE: u32 id, u8 state, i32 exit code, i32 signal. */
int job_done_encode(const struct job *j, struct buf *out);
int job_done_decode(struct rd *r, uint32_t *id, uint8_t *state, int32_t *code, int32_t *sig);

#endif
