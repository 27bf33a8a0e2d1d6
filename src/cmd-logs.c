/*
 * cmd-logs.c - `ferry logs` and following a job's output (also `run -f`):
 * Ctrl-C stops following, not the job; a lost link is followed again from
 * the byte printed last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-job.h"
#include "fwd.h"
#include "job-sup.h"
#include "job-wire.h"
#include "sig.h"

#include "banned.h"

/* JOB_LOGS' body (job-wire.h). */
void logs_request(struct buf *b, uint32_t id, uint32_t tail, uint8_t flags, uint64_t from)
{
	struct job_logs_req q = { .id = id, .tail = tail, .flags = flags, .from = from };
	buf_init(b, 32);
	job_logs_encode(&q, b);
}

/* ---- following: Ctrl-C and a lost link ---- */

/* The last byte we printed on stdout did not end a line: a line of ours
 * on stderr starts with a newline, so it starts at column 0. */
static bool out_mid_line;

int print_out(const void *p, size_t n)
{
	if (n > 0)
		out_mid_line = ((const uint8_t *)p)[n - 1] != '\n';
	return write_all(1, p, n);
}

void line_start(const char *nl)
{
	struct stat so, se;
	bool shared = (fstat(1, &so) == 0 && fstat(2, &se) == 0 && so.st_dev == se.st_dev && so.st_ino == se.st_ino) ||
		      (isatty(1) && isatty(2));
	if (out_mid_line && shared)
		(void)write_all(2, nl, strlen(nl));
	out_mid_line = false;
}

/* Ctrl-C while following: the jobs go on, and say how to stop them. */
int still_running(const uint32_t *ids, uint32_t n, const char *nl)
{
	if (isatty(2)) {
		/* The terminal echoed ^C where the cursor was. */
		(void)write_all(2, nl, strlen(nl));
		out_mid_line = false;
	}
	line_start(nl);
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "ferry: job %u keeps running; stop it with: ferry kill %u%s", ids[i], ids[i], nl);
	return 130;
}

/* The next frame of a follow: 1 (an ERROR dies), 0 the link is lost, -1
 * Ctrl-C. */
int follow_next(struct session *s, uint16_t *type, struct rd *body)
{
	static const int stops[] = { SIGINT, 0 };
	int r = session_next(s, type, body, stops);
	if (r == -EBADMSG)
		die(EXIT_PROTO, "malformed frame from the agent on '%s'", s->label);
	if (r == -SIGINT)
		return -1;
	if (r == 1 && *type == MSG_ERROR)
		die_for_error(s, body);
	return r;
}

/* The link dropped: says so on a line of its own and opens the session
 * again with req.  0, 1 on Ctrl-C meanwhile; any other failure dies. */
int relink(struct session *s, const struct config *cfg, uint16_t type, const struct buf *req, const char *nl)
{
	struct ferr e = { 0 };
	line_start(nl);
	session_close(s);	/* what ssh said about it comes first */
	fprintf(stderr, "ferry: connection lost; reconnecting...%s", nl);
	if (session_reopen(s, cfg, type, req, &e) < 0) {
		if (e.code == 128 + SIGINT) {
			ferr_release(&e);
			return 1;
		}
		ferr_die(&e);
	}
	fprintf(stderr, "ferry: reconnected%s", nl);
	return 0;
}

/* Prints the log of job id from a follow request already sent (with
 * JOB_LOGS_AT) until the job ends, across lost links: the log offset of
 * each byte printed is known, and a new request asks for the next one.
 * The exit status to use. */
int follow_logs(struct session *s, const struct config *cfg, uint32_t id, uint32_t tail)
{
	uint64_t pos = 0;
	bool known = false;

	sig_watch(SIGINT);
	sig_ignore(SIGPIPE);
	for (;;) {
		struct rd body;
		uint16_t type;
		int r = follow_next(s, &type, &body);
		if (r < 0)
			return still_running(&id, 1, "\n");
		if (r == 0) {
			struct buf b;
			logs_request(&b, id, tail, JOB_LOGS_FOLLOW | JOB_LOGS_AT | (known ? JOB_LOGS_FROM : 0), pos);
			r = relink(s, cfg, MSG_JOB_LOGS, &b, "\n");
			buf_release(&b);
			if (r)
				return still_running(&id, 1, "\n");
			continue;
		}
		if (type == MSG_JOB_LOG_AT) {
			pos = rd_u64(&body);
			rd_expect_end(&body);
			if (!rd_ok(&body))
				die(EXIT_PROTO, "malformed log position from the agent on '%s'", s->label);
			known = true;
			continue;
		}
		if (type == MSG_JOB_OUTPUT) {
			size_t n = rd_left(&body);
			if (print_out(rd_peek(&body), n) < 0)
				return errno == EPIPE ? 0 : EXIT_OSERR;
			pos += n;
			continue;
		}
		if (type != MSG_JOB_DONE)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		uint32_t jid;
		uint8_t state;
		int32_t code, sig;
		if (job_done_decode(&body, &jid, &state, &code, &sig) < 0)
			die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
		if (state == JOB_LOST) {
			line_start("\n");
			error_msg("job %u is lost: its supervisor on %s is gone", id, s->label);
			return EXIT_FAIL;
		}
		return job_status(state, code, sig);
	}
}

/* Prints the log the agent streams back for a JOB_LOGS request already
 * sent (not following), until its JOB_DONE. */
static int read_logs(struct session *s)
{
	sig_ignore(SIGPIPE);
	for (;;) {
		struct rd body;
		uint16_t type = next_or_die(s, &body);
		if (type == MSG_JOB_OUTPUT) {
			if (write_all(1, rd_peek(&body), rd_left(&body)) < 0)
				return errno == EPIPE ? 0 : EXIT_OSERR;
			continue;
		}
		uint32_t jid;
		uint8_t state;
		int32_t code, sig;
		if (type != MSG_JOB_DONE)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		if (job_done_decode(&body, &jid, &state, &code, &sig) < 0)
			die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
		return 0;
	}
}

/* ---- logs ---- */

int cmd_logs(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 't' },
		{ "no-forward", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool follow = false, no_forward = false;
	uint32_t tail = 0;
	int c;

	while ((c = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = true; break;
		case 'F': no_forward = true; break;
		case 'n':
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v == 0 || v > 1000000)
				cmd_usage_die("logs", "--tail wants a number of lines (1 to 1000000), not '%s'", optarg);
			tail = (uint32_t)v;
			break;
		}
		case 'h': cmd_usage("logs", 0); return 0;
		default: cmd_usage("logs", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("logs", "one job at a time");
	cmd_load_config(&cfg, ctx->dir);
	if (follow)
		sig_watch(SIGINT);	/* as wait: stops the following, never the job */
	struct session s;
	struct buf b;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "logs", argv + optind, argc - optind, PICK_NEWEST, NULL);
	uint32_t id = ids[0];
	free(ids);
	logs_request(&b, id, tail, follow ? JOB_LOGS_FOLLOW | JOB_LOGS_AT : 0, 0);
	send_request(&s, opened, &cfg, MSG_JOB_LOGS, &b);
	pid_t fp = follow && !no_forward && !cfg.fwd_off ? fwd_follow_start(ctx->dir, id) : 0;
	int code = follow ? follow_logs(&s, &cfg, id, tail) : read_logs(&s);
	fwd_follow_stop(fp);
	session_close(&s);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
