/*
 * cmd-wait.c - `ferry wait`: until jobs end, with their exit status.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "cmd.h"
#include "cmd-job.h"
#include "job-wire.h"
#include "limits.h"
#include "sig.h"

#include "banned.h"

/* ---- wait ---- */

static void notify(const struct job *j)
{
	char *ex = fmt_exit(j);
	char *msg = xasprintf("job %u %s (exit %s)", j->id, job_state_name(j->state), ex);
	(void)write_all(2, "\a", 1);
	char *argv[] = { "notify-send", "ferry", msg, NULL };
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_NULL, .err = SPAWN_NULL };
	struct child ch;
	if (spawn(argv, &o, &ch) == 0) {
		int st;
		child_close(&ch);
		(void)wait_child(ch.pid, &st);
	}
	free(msg);
	free(ex);
}

int cmd_wait(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "notify", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool want_notify = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': want_notify = true; break;
		case 'h': cmd_usage("wait", 0); return 0;
		default: cmd_usage("wait", 1); return EXIT_USAGE;
		}
	}
	if (argc - optind > JOB_IDS_MAX)
		cmd_usage_die("wait", "too many jobs (at most %d)", JOB_IDS_MAX);
	uint32_t n = optind == argc ? 1 : (uint32_t)(argc - optind);
	cmd_load_config(&cfg, ctx->dir);
	/* Ctrl-C from here on stops the wait, never the job: while connecting
	 * it says so ("interrupted while connecting"), once waiting it names
	 * the jobs that keep running. */
	sig_watch(SIGINT);
	struct buf b;
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "wait", argv + optind, argc - optind, PICK_NEWEST, NULL);
	buf_init(&b, FRAME_MAX);
	job_ids_encode(ids, n, &b);
	send_request(&s, opened, &cfg, MSG_JOB_WAIT, &b);
	int code = 0;
	uint32_t left = 0;	/* ids[left..n) have not ended yet */
	for (;;) {
		struct rd body;
		uint16_t type;
		int r = follow_next(&s, &type, &body);
		if (r < 0) {
			code = still_running(ids + left, n - left, "\n");
			break;
		}
		if (r == 0) {
			/* Ask again for the jobs not seen to end. */
			buf_reset(&b);
			job_ids_encode(ids + left, n - left, &b);
			if (relink(&s, &cfg, MSG_JOB_WAIT, &b, "\n")) {
				code = still_running(ids + left, n - left, "\n");
				break;
			}
			continue;
		}
		if (type == MSG_JOB_LIST_END)
			break;
		if (type == MSG_JOB_NOTICE) {
			print_notice(&s, &body);
			if (left < n)
				left++;	/* a job removed meanwhile */
			if (code == 0)
				code = EXIT_FAIL;
			continue;
		}
		if (type != MSG_JOB_RECORD)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s.label);
		struct job j;
		decode_record_or_die(&s, &body, &j);
		if (left < n && ids[left] == j.id)
			left++;
		char *ex = fmt_exit(&j);
		printf("job %u %s (exit %s)\n", j.id, job_state_name(j.state), ex);
		fflush(stdout);
		free(ex);
		int st = job_status(j.state, j.exit_code, j.signal);
		if (code == 0)
			code = st;
		if (want_notify)
			notify(&j);
		job_release(&j);
	}
	session_close(&s);
	free(ids);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
