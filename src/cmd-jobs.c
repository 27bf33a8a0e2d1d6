/*
 * cmd-jobs.c - `ferry jobs`: list, show, rm and prune.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-job.h"
#include "fwd.h"
#include "job-wire.h"
#include "limits.h"

#include "banned.h"

/* ---- jobs ---- */

/* Sends JOB_RM for ids on s (opened or not) and reports; 0 or EXIT_FAIL
 * (a notice: not found, running). */
static int rm_ids(struct session *s, bool opened, const struct config *cfg, const uint32_t *ids, uint32_t n,
		  bool quiet)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	buf_put_u8(&b, 0);
	buf_put_u64(&b, 0);
	job_ids_encode(ids, n, &b);
	send_request(s, opened, cfg, MSG_JOB_RM, &b);
	buf_release(&b);
	int code = 0;
	size_t nv;
	struct job *v = read_records(s, &nv, &code);
	for (size_t i = 0; i < nv && !quiet; i++)
		printf("removed job %u (its record and log; what it wrote stays in %s)\n", v[i].id, vis(v[i].root));
	if (quiet)
		printf("removed %zu finished job%s (records and logs; what they wrote stays in the project folder)\n",
		       nv, nv == 1 ? "" : "s");
	free_records(v, nv);
	return code;
}

static int jobs_rm(struct config *cfg, char **args, int n)
{
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, cfg, "jobs rm", args, n, PICK_NEWEST, NULL);
	int code = rm_ids(&s, opened, cfg, ids, (uint32_t)n, false);
	session_close(&s);
	free(ids);
	return code;
}

/* The finished jobs of this project (every project with all) that ended
 * at least older ago go, once a person said yes or --yes did. */
static int jobs_prune(struct config *cfg, bool all, uint64_t older, bool yes)
{
	struct session s;
	struct buf b;
	int code = 0;
	size_t nv, ngo = 0;
	if (!yes && !(isatty(0) && isatty(2)))
		cmd_usage_die("jobs", "prune removes jobs and their logs: confirm with --yes (no terminal to ask on)");
	list_request(&b, all ? "" : cfg->path);
	open_or_die(&s, cfg, MSG_JOB_LIST, &b);
	buf_release(&b);
	struct job *v = read_records(&s, &nv, &code);
	uint32_t *go = xcalloc(nv + 1, sizeof(uint32_t));
	/* The laptop's clock against the server's end times: a skew of
	 * minutes against ages of hours and days. */
	uint64_t now = now_wall_ns();
	for (size_t i = 0; i < nv; i++)
		if (v[i].state != JOB_RUNNING && v[i].state != JOB_QUEUED && (older == 0 || (v[i].end_ns && now > v[i].end_ns &&
								   now - v[i].end_ns >= older)))
			go[ngo++] = v[i].id;
	free_records(v, nv);
	if (ngo == 0) {
		printf("no finished job%s to remove\n", older ? " that old" : "");
	} else if (yes || confirm("remove %zu finished job%s of %s with %s log%s?", ngo, ngo == 1 ? "" : "s",
				  all ? "every project" : "this project", ngo == 1 ? "its" : "their", ngo == 1 ? "" : "s")) {
		int r = rm_ids(&s, true, cfg, go, (uint32_t)ngo, true);
		if (r)
			code = r;
	} else {
		error_msg("nothing removed");
		code = EXIT_FAIL;
	}
	session_close(&s);
	free(go);
	return code;
}

/* A running job's ports and the URLs it printed for them (the server's
 * ports: `ferry forward` gives the laptop's). */
static void print_ports(const struct fwd_port *p, size_t n)
{
	printf("ports:     ");
	for (size_t i = 0; i < n; i++)
		printf("%s%u (%s)", i ? ", " : "", p[i].port, p[i].addr);
	printf("  (`ferry forward --job %s` brings them here)\n", p[0].job);
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < p[i].nurls; k++)
			printf("url:       %s\n", vis(p[i].urls[k]));
}

int cmd_jobs(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "last", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "older-than", required_argument, NULL, 'o' },
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool all = false, json = false, yes = false;
	uint64_t older = 0;
	long last = JOBS_RECENT;
	int c;

	while ((c = getopt_long(argc, argv, "an:yh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'n': {
			char *end;
			last = strtol(optarg, &end, 10);
			if (end == optarg || *end || last < 0 || last > JOB_IDS_MAX)
				cmd_usage_die("jobs", "--last wants a number of finished jobs (0: every one), not '%s'", optarg);
			break;
		}
		case 'j': json = true; break;
		case 'o':
			older = parse_age(optarg, true);
			if (older == UINT64_MAX)
				cmd_usage_die("jobs", "--older-than wants an age with its unit (s, m, h, d, w), like 30m, 12h or 7d, not '%s'", optarg);
			break;
		case 'y': yes = true; break;
		case 'h': cmd_usage("jobs", 0); return 0;
		default: cmd_usage("jobs", 1); return EXIT_USAGE;
		}
	}
	const char *sub = optind < argc ? argv[optind++] : NULL;
	if (sub && strcmp(sub, "rm") != 0 && strcmp(sub, "prune") != 0 && strcmp(sub, "show") != 0)
		cmd_usage_die("jobs", "unknown subcommand '%s' (show, rm, prune)", sub);
	if (sub && strcmp(sub, "prune") == 0 && optind != argc)
		cmd_usage_die("jobs", "prune takes no job ids (it removes every finished job)");
	if (sub && strcmp(sub, "rm") == 0 && optind == argc)
		cmd_usage_die("jobs", "rm wants a job id or name");
	if (!sub && optind != argc)
		cmd_usage_die("jobs", "unexpected '%s'", argv[optind]);
	if (argc - optind > JOB_IDS_MAX)
		cmd_usage_die("jobs", "too many jobs (at most %d)", JOB_IDS_MAX);
	cmd_load_config(&cfg, ctx->dir);
	int code = 0;
	if (sub && strcmp(sub, "show") != 0) {
		code = strcmp(sub, "prune") == 0 ? jobs_prune(&cfg, all, older, yes)
						 : jobs_rm(&cfg, argv + optind, argc - optind);
		config_release(&cfg);
		return code;
	}
	/* show: ids and names (none: the latest); the list: this project's
	 * jobs, or every project's with --all. */
	struct buf b;
	struct session s;
	struct job *v = NULL;
	size_t nv = 0;
	if (sub) {
		bool opened;
		uint32_t n = optind == argc ? 1 : (uint32_t)(argc - optind);
		uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "jobs show", argv + optind, argc - optind, PICK_NEWEST, NULL);
		buf_init(&b, FRAME_MAX);
		job_ids_encode(ids, n, &b);
		send_request(&s, opened, &cfg, MSG_JOB_LIST, &b);
		free(ids);
	} else {
		list_request(&b, all ? "" : cfg.path);
		open_or_die(&s, &cfg, MSG_JOB_LIST, &b);
	}
	v = read_records(&s, &nv, &code);
	/* show: the ports a running job listens on, on the same session. */
	struct fwd_port **ports = sub && !json ? xcalloc(nv + 1, sizeof(*ports)) : NULL;
	size_t *nports = ports ? xcalloc(nv + 1, sizeof(*nports)) : NULL;
	for (size_t i = 0; ports && i < nv; i++)
		if (v[i].state == JOB_RUNNING && fwd_ports_once(&s, v[i].id, &ports[i], &nports[i]) < 0)
			break;
	session_close(&s);
	/* Without --all: the running and lost ones, and the last few ended. */
	size_t ended = 0, first_shown = 0;
	for (size_t i = 0; i < nv; i++)
		ended += job_ended(v[i].state);
	if (!all && !sub && last && ended > (size_t)last)
		first_shown = ended - (size_t)last;
	struct table t;
	struct winsize ws;
	table_init(&t, all, isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0);
	if (!json && !sub && nv)
		print_header(&t);
	size_t k = 0;
	for (size_t i = 0; i < nv; i++) {
		bool finished = job_ended(v[i].state);
		if (finished && k++ < first_shown)
			continue;
		if (json)
			print_json(&v[i]);
		else if (sub) {
			print_show(&v[i]);
			if (ports && nports[i])
				print_ports(ports[i], nports[i]);
		}
		else
			print_row(&t, &v[i]);
	}
	/* A lost job: whether its processes outlived their supervisor (the
	 * STATE column keeps its width). */
	for (size_t i = 0; i < nv && !json && !sub; i++) {
		if (v[i].state != JOB_LOST || !v[i].procs_known)
			continue;
		char *st = fmt_state(&v[i]);
		if (v[i].procs_left)
			printf("(job %u is %s: `ferry kill %u` stops them)\n", v[i].id, st, v[i].id);
		else
			printf("(job %u is %s)\n", v[i].id, st);
		free(st);
	}
	if (!json && !sub && nv == 0)
		printf("no jobs %son %s (start one with `ferry run -- CMD`)\n", all ? "" : "of this project ", vis(s.label));
	if (!json && !sub && first_shown)
		printf("(%zu older finished job%s not shown: `ferry jobs --last 0`)\n", first_shown,
		       first_shown == 1 ? "" : "s");
	for (size_t i = 0; ports && i < nv; i++) {
		for (size_t m = 0; m < nports[i]; m++)
			fwd_port_release(&ports[i][m]);
		free(ports[i]);
	}
	free(ports);
	free(nports);
	free_records(v, nv);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
