/*
 * job-sup.h - starting a job under its own supervisor (job-sup.c).
 */
#ifndef FERRY_JOB_SUP_H
#define FERRY_JOB_SUP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "job.h"

/* Starts j (id, argv, shell, cwd, root and the code version filled in; its
 * folder exists) under a detached supervisor with the environment envp
 * and a pty of rows x cols.  Returns once the record says it runs: 0; 127
 * or 126 when the command could not be executed (the job is recorded as
 * failed, *why says why); -errno with *why when no job could be started.
 * *why: caller frees. */
int job_launch(const char *jobs, struct job *j, char **envp, const char *shell, uint16_t rows, uint16_t cols,
	       char **why, char **warning);

/* The KillUserProcesses= value after reading one logind.conf text
 * ([Login] section; yes/no and synonyms), starting from current (0/1). */
int logind_kill_setting(const char *text, size_t n, int current);

/* JOB_DONE: u32 id, u8 state, i32 exit code, i32 signal. */
int job_done_encode(const struct job *j, struct buf *out);
int job_done_decode(struct rd *r, uint32_t *id, uint8_t *state, int32_t *code, int32_t *sig);

#endif
