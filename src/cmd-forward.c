/*
 * cmd-forward.c - `ferry forward`: ports of the server on the laptop
 * (docs/forward.md); the work is fwd.c's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd-job.h"
#include "fwd.h"
#include "mon-jobs.h"

#include "banned.h"

int cmd_forward(const struct cmd_ctx *ctx, int argc, char **argv)
{
	enum { OPT_BIND = 256, OPT_JOB, OPT_NO_AUTO, OPT_LIST, OPT_JSON, OPT_FOLLOWER };
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "job", required_argument, NULL, OPT_JOB },
		{ "no-auto", no_argument, NULL, OPT_NO_AUTO },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "follower", no_argument, NULL, OPT_FOLLOWER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fwd_opts o = { .autofwd = true, .nl = "\n" };
	const char *job = NULL;
	bool list = false, json = false, no_auto = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BIND: o.bind = optarg; break;
		case OPT_JOB: job = optarg; break;
		case OPT_NO_AUTO: no_auto = true; break;
		case OPT_LIST: list = true; break;
		case OPT_JSON: json = true; break;
		case OPT_FOLLOWER: o.follower = true; break;
		case 'h': cmd_usage("forward", 0); return 0;
		default: cmd_usage("forward", 1); return EXIT_USAGE;
		}
	}
	if (list) {
		if (optind < argc || job || o.bind || no_auto)
			cmd_usage_die("forward", "--list takes no forwards");
		return fwd_list(json);
	}
	if (json)
		cmd_usage_die("forward", "--json goes with --list");
	o.nspecs = (uint32_t)(argc - optind);
	o.specs = xcalloc(o.nspecs + CONFIG_SKIP_MAX + 1, sizeof(*o.specs));
	for (uint32_t i = 0; i < o.nspecs; i++) {
		char *err;
		if (fwd_spec_parse(argv[optind + (int)i], &o.specs[i], &err) < 0)
			cmd_usage_die("forward", "%s", err);
	}
	bool named = o.nspecs > 0;
	if (o.bind) {
		unsigned char ip[16];
		if (inet_pton(AF_INET, o.bind, ip) != 1 && inet_pton(AF_INET6, o.bind, ip) != 1)
			cmd_usage_die("forward", "--bind wants an address of this laptop (127.0.0.1, 0.0.0.0, ::1), not '%s'",
				      o.bind);
	}
	/* Specs alone mean just those; --job asks for a job's ports too. */
	o.autofwd = !no_auto && (o.nspecs == 0 || job != NULL);
	struct config cfg;
	cmd_load_config(&cfg, ctx->dir);
	/* forward.ports: with the jobs' ports, whenever no SPEC is named. */
	for (uint32_t i = 0; !named && i < cfg.fwd_nports; i++) {
		char arg[8], *err;
		snprintf(arg, sizeof(arg), "%u", cfg.fwd_ports[i]);
		if (fwd_spec_parse(arg, &o.specs[o.nspecs], &err) == 0)
			o.nspecs++;
		else
			free(err);
	}
	if (o.autofwd && cfg.fwd_off && !job && !o.follower) {
		if (o.nspecs == 0)
			die(EXIT_USAGE, "forward.auto is off in %s: name the ports to forward (ferry forward 8888)",
			    cfg.file);
		o.autofwd = false;
	}
	o.skip = cfg.fwd_skip;
	o.nskip = cfg.fwd_nskip;
	char idb[16];
	if (job && !o.follower) {
		/* A name or "the latest" as every job command takes it. */
		struct session s;
		bool opened;
		char *arg = (char *)job;
		uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "forward", &arg, 1, PICK_RUNNING, NULL);
		snprintf(idb, sizeof(idb), "%u", ids[0]);
		free(ids);
		if (opened)
			session_close(&s);
		job = idb;
	} else if (job && !mon_job_id_ok(job)) {
		cmd_usage_die("forward", "'%s' is not a job id", job);
	}
	o.job = job;
	int code = fwd_run(&cfg, &o);
	for (uint32_t i = 0; i < o.nspecs; i++)
		fwd_spec_release(&o.specs[i]);
	free(o.specs);
	config_release(&cfg);
	return code;
}
