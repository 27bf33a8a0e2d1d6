/*
 * mon-jobs.h - the ferry jobs of this user on this server, as the job
 * supervisor records them: $XDG_STATE_HOME/ferry/jobs/ID/ (default
 * ~/.local/state/ferry/jobs) holding `sid` (the decimal session id the
 * supervisor gave the job's command with setsid()) and `state` (first
 * line "running" while it runs, something else after).
 *
 * This is the interface between monitoring and the jobs code: every
 * process whose session id is a running job's sid belongs to that job.
 */
#ifndef FERRY_MON_JOBS_H
#define FERRY_MON_JOBS_H

#include <stddef.h>
#include <stdint.h>

struct mon_jobrec {
	char *id;
	char *state;		/* first line of `state`, "?" if unreadable */
	uint32_t sid;		/* 0 if `sid` is missing or not a number */
	uint64_t mtime_ns;	/* of the job folder */
	char *name;		/* from its record (`run -n`), "" none or unreadable */
};

/* The jobs folder, the same as jobs_dir() (state_home()/jobs), not created;
 * the caller frees. */
char *mon_jobs_dir(void);
/* Every job folder in dir (NULL: mon_jobs_dir()): running ones first,
 * then the most recent others, at most MON_JOBS_MAX in all and
 * MON_JOBS_RECENT finished ones.  Returns the count (0 when the folder
 * does not exist); *out is freed with mon_jobs_free. */
int mon_jobs_list(const char *dir, struct mon_jobrec **out);
/* Only the running ones. */
int mon_jobs_running(const char *dir, struct mon_jobrec **out);
void mon_jobs_free(struct mon_jobrec *j, int n);
/* A job id as a folder name: 1-64 of [A-Za-z0-9._-], not starting with '.'. */
int mon_job_id_ok(const char *id);
/* Parses the bytes of a `sid` file: a decimal > 1 with optional trailing
 * newline; 0 if it is not one. */
uint32_t mon_jobs_parse_sid(const char *p, size_t n);

#endif
