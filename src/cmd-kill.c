/*
 * cmd-kill.c - `ferry kill`: a signal to a job and everything it started.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-job.h"
#include "limits.h"
#include "platform.h"

#include "banned.h"

/* ---- kill ---- */

static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM },
	};
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end == '\0' && end != s && signal_to_wire((int)v) != 0)
		return (int)v;
	return -1;
}

int cmd_kill(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	int c, sig = SIGTERM;
	uint32_t grace = JOB_KILL_GRACE_MS;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sig = parse_signal(optarg);
			if (sig < 0)
				cmd_usage_die("kill", "unknown signal '%s' (TERM, INT, HUP, QUIT, KILL, USR1, USR2)", optarg);
			break;
		case 'g': {
			uint64_t g = parse_age(optarg, false);
			if (g == UINT64_MAX || g > 3600ull * 1000000000u)
				cmd_usage_die("kill", "--grace wants a time like 10s or 2m, not '%s'", optarg);
			grace = (uint32_t)(g / 1000000u);
			break;
		}
		case 'h': cmd_usage("kill", 0); return 0;
		default: cmd_usage("kill", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("kill", "one job at a time");
	/* The latest running job is a guess: a person confirms it, a script
	 * names the job. */
	bool ask = optind == argc;
	if (ask && !(isatty(0) && isatty(2)))
		cmd_usage_die("kill", "name the job to kill (without a terminal there is no asking which)");
	cmd_load_config(&cfg, ctx->dir);
	struct buf b;
	struct session s;
	bool opened;
	struct job latest = { 0 };
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "kill", argv + optind, argc - optind, PICK_RUNNING, &latest);
	uint32_t id = ids[0];
	free(ids);
	if (ask) {
		char *dur = fmt_duration(now_wall_ns() > latest.start_ns ? now_wall_ns() - latest.start_ns : 0);
		char *name = str_visible(latest.name[0] ? latest.name : "-");
		bool yes = confirm("kill job %u (%s, running %s)?", id, name, dur);
		free(dur);
		free(name);
		job_release(&latest);
		if (!yes) {
			session_close(&s);
			error_msg("nothing killed");
			config_release(&cfg);
			return EXIT_FAIL;
		}
	}
	buf_init(&b, 16);
	buf_put_u32(&b, id);
	buf_put_u32(&b, signal_to_wire(sig));
	buf_put_u32(&b, grace);
	send_request(&s, opened, &cfg, MSG_JOB_KILL, &b);
	struct rd body;
	uint16_t type = next_or_die(&s, &body);
	if (type != MSG_JOB_RECORD)
		die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s.label);
	struct job j;
	decode_record_or_die(&s, &body, &j);
	session_close(&s);
	if (j.state == JOB_RUNNING)
		printf("job %u was sent SIG%s and is still running\n", id, platform_sig_abbrev(sig));
	else if (j.state == JOB_LOST && j.procs_known)
		printf("job %u is lost (its supervisor is gone): its processes were sent SIG%s, %u still running\n", id,
		       platform_sig_abbrev(sig), j.procs_left);
	else
		printf("job %u %s\n", id, job_state_name(j.state));
	job_release(&j);
	buf_release(&b);
	config_release(&cfg);
	return 0;
}
