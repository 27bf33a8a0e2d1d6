/*
 * cmd-check-ignore.c - `ferry check-ignore [-v] PATH...`: which rule keeps
 * a path out of the push set, in the manner of `git check-ignore -v`; with
 * -v also why a path is pushed after all (a negated rule, git tracks it)
 * and what a pull does with a path in a pull folder.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "fsx.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

int cmd_check_ignore(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "non-matching", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int verbose = 0, nonmatch = 0, c, any = 0;
	struct config cfg;

	while ((c = getopt_long(argc, argv, "+vnh", opts, NULL)) != -1) {
		switch (c) {
		case 'v': verbose = 1; break;
		case 'n': nonmatch = 1; break;
		case 'h': cmd_usage("check-ignore", 0); return 0;
		default: cmd_usage("check-ignore", 1); return EXIT_USAGE;
		}
	}
	if (optind == argc)
		cmd_usage_die("check-ignore", "missing PATH");
	if (nonmatch && !verbose)
		cmd_usage_die("check-ignore", "--non-matching needs --verbose");
	cmd_load_config(&cfg, ctx->dir);
	size_t rl = strlen(cfg.root);
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		const char *arg = argv[i];
		char *abs = path_absolute(arg);
		const char *rel;
		if (strcmp(abs, cfg.root) == 0) {
			rel = "";
		} else if (strncmp(abs, cfg.root, rl) == 0 && (abs[rl] == '/' || rl == 1)) {
			rel = abs + rl + (rl == 1 ? 0 : 1);
		} else {
			error_msg("'%s' is outside the project '%s'", arg, cfg.root);
			free(abs);
			ret = EXIT_USAGE;
			continue;
		}
		struct stat st;
		size_t al = strlen(arg);
		bool is_dir = (al && arg[al - 1] == '/') || (lstat(abs, &st) == 0 && S_ISDIR(st.st_mode));
		char *why = NULL;
		enum scan_verdict v = rel[0] ? scan_explain(&cfg, rel, is_dir, &why) : SCAN_PUSHED;
		/* Out of the push set: excluded, or a result (pull folders
		 * are never pushed). */
		bool out = v == SCAN_EXCLUDED || v == SCAN_RESULT || v == SCAN_PULL_IGNORED;
		any |= out;
		if (verbose && why)
			printf("%s\t%s\n", vis(why), vis(arg));
		else if (out)
			printf("%s\n", vis(arg));
		else if (nonmatch)
			printf("::\t%s\n", vis(arg));
		free(why);
		free(abs);
	}
	config_release(&cfg);
	/* As git: 0 when some path is excluded, 1 when none is. */
	return ret ? ret : any ? 0 : EXIT_FAIL;
}
