/*
 * job-spec.h - a job's launch spec: everything needed to start it, in
 * its folder ("spec"), so that whoever starts it — the agent at once, a
 * queue later, Slurm's srun elsewhere — needs nothing but the folder
 * (`ferry agent supervise DIR`).
 *
 * Written once, atomically (temp + rename, 0600: it holds the job's
 * environment) before anything runs; read by the supervisor.  Tagged
 * fields (job-tag.h) behind the magic "FJS1".
 */
#ifndef FERRY_JOB_SPEC_H
#define FERRY_JOB_SPEC_H

#include <stdint.h>

#include "buf.h"

struct job_spec {
	char **argv;		/* exactly what is executed (a shell line is
				 * already SHELL -c LINE), NULL-terminated */
	uint32_t argc;
	char **env;		/* its whole environment, K=V, NULL-terminated */
	uint32_t envc;
	char *cwd;		/* where it runs */
	uint8_t pty;		/* runs on a pseudo-terminal (always, so far) */
	uint16_t rows, cols;	/* its size; 0 for the default 24x80 */
	char **resources;	/* requests such as "gpu=1"; none yet */
	uint32_t nresources;
	char *code_id;		/* the snapshot it runs ("" in place) */
	char *env_id;		/* the environment it was given: "login" (the
				 * login shell's) or "plain" */
};

void job_spec_release(struct job_spec *s);

/* The bytes (a parser of untrusted input: fuzzed).  0 or -1. */
int job_spec_encode(const struct job_spec *s, struct buf *out);
int job_spec_decode(const void *p, size_t n, struct job_spec *s);

/* DIR/spec, written atomically; read back (-ENOENT, -EBADMSG).  0 or
 * -errno. */
int job_spec_save(const char *dir, const struct job_spec *s);
int job_spec_load(const char *dir, struct job_spec *s);

#endif
