/*
 * cmd-job.h - what the job commands (cmd-run.c, cmd-jobs.c, cmd-logs.c,
 * cmd-attach.c, cmd-kill.c, cmd-wait.c) share: cmd-job.c has the session
 * and the records, cmd-job-print.c the table and JSON, cmd-logs.c following.
 */
#ifndef FERRY_CMD_JOB_H
#define FERRY_CMD_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "proto.h"
#include "session.h"
#include "util.h"

struct config;

enum pick { PICK_NEWEST, PICK_RUNNING };

enum { COL_ID, COL_NAME, COL_STATE, COL_EXIT, COL_STARTED, COL_TIME, COL_MEM, COL_CODE, COL_PROJECT, COL_COUNT };
/* How the job table is laid out: a PROJECT column with --all; on a
 * terminal, columns dropped as it narrows and rows cut to its width (a
 * long command never wraps). */
struct table {
	bool show[COL_COUNT];
	size_t cols;		/* 0: not a terminal, full rows */
};


/* cmd-job.c */
void open_or_die(struct session *s, const struct config *cfg, uint16_t type, const struct buf *b);
void die_for_error(struct session *s, struct rd *body) __attribute__((noreturn));
uint16_t next_or_die(struct session *s, struct rd *body);
uint32_t print_notice(struct session *s, struct rd *body);
void decode_record_or_die(struct session *s, struct rd *body, struct job *j);
int job_status(uint8_t state, int32_t code, int32_t sig);
void list_request(struct buf *b, const char *project);
struct job *read_records(struct session *s, size_t *n, int *code);
void free_records(struct job *v, size_t n);
uint32_t *resolve_jobs(struct session *s, bool *opened, const struct config *cfg, const char *cmd, char **args, int n, enum pick pick, struct job *pick_out);
void send_request(struct session *s, bool opened, const struct config *cfg, uint16_t type, struct buf *b);
bool confirm(const char *fmt, ...) ATTR_PRINTF(1, 2);
void term_size(uint16_t *rows, uint16_t *cols);
uint64_t parse_age(const char *s, bool need_unit);

/* cmd-job-print.c */
void print_json(const struct job *j);
void print_header(const struct table *t);
void print_row(const struct table *t, const struct job *j);
void print_show(const struct job *j);
void table_init(struct table *t, bool project, size_t cols);
char *fmt_duration(uint64_t ns);
char *fmt_exit(const struct job *j);
/* The state as people read it: "lost (3 processes still running)" for
 * a lost job whose processes were counted, else its name. */
char *fmt_state(const struct job *j);

/* cmd-logs.c */
void logs_request(struct buf *b, uint32_t id, uint32_t tail, uint8_t flags, uint64_t from);
int follow_logs(struct session *s, const struct config *cfg, uint32_t id, uint32_t tail);
int print_out(const void *p, size_t n);
void line_start(const char *nl);
int relink(struct session *s, const struct config *cfg, uint16_t type, const struct buf *req, const char *nl);
int still_running(const uint32_t *ids, uint32_t n, const char *nl);
int follow_next(struct session *s, uint16_t *type, struct rd *body);

#endif
