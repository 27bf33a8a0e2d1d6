/*
 * job-wire.h - the job requests' bodies (docs/PROTOCOL.md, "Jobs").
 */
#ifndef FERRY_JOB_WIRE_H
#define FERRY_JOB_WIRE_H

#include <stdint.h>

#include "buf.h"

#define JOBF_SHELL		0x1u	/* argv[0] is a shell line */
#define JOBF_NO_LOGIN_ENV	0x2u
#define JOBF_IN_PLACE		0x4u	/* run in the live folder, no snapshot */
#define JOBF_SHARED		0x8u	/* the project says other users may write its folder */
#define JOBF_ALL		0xfu

struct job_start_req {
	uint32_t flags;
	char *name;
	char *root;		/* as the user wrote it (`path` in ferry.ini) */
	char **argv;		/* NULL-terminated */
	uint32_t argc;
	char **env;		/* extra K=V, NULL-terminated */
	uint32_t envc;
	uint16_t rows, cols;
	char *git_commit;	/* "" unknown */
	uint8_t git_dirty;	/* enum job_git */
	char **pull;		/* pull folders: made live before the snapshot */
	uint32_t npull;
	uint64_t max_mem;	/* stop the job past this (its tree's RSS), 0 none */
	uint64_t min_avail;	/* host guard: MemAvailable threshold, 0 off */
};

int job_start_encode(const struct job_start_req *q, struct buf *out);
int job_start_decode(struct rd *r, struct job_start_req *q);
void job_start_release(struct job_start_req *q);

/* A list of job ids: u32 count, then u32 ids (≤ JOB_IDS_MAX). */
int job_ids_encode(const uint32_t *ids, uint32_t n, struct buf *out);
uint32_t *job_ids_decode(struct rd *r, uint32_t *n);

/* JOB_LOGS: u32 id, u32 tail lines (0 all), u8 flags, then a u64 log
 * offset when JOB_LOGS_FROM is set. */
#define JOB_LOGS_FOLLOW		0x1u	/* until the job ends */
#define JOB_LOGS_AT		0x2u	/* JOB_LOG_AT frames say where output is */
#define JOB_LOGS_FROM		0x4u	/* start at `from` (tail ignored) */
#define JOB_LOGS_ALL		0x7u

struct job_logs_req {
	uint32_t id, tail;
	uint8_t flags;
	uint64_t from;		/* log offset, with JOB_LOGS_FROM */
};
int job_logs_encode(const struct job_logs_req *q, struct buf *out);
int job_logs_decode(struct rd *r, struct job_logs_req *q);

#endif
