/*
 * cmd-ls-files.c - `ferry ls-files`: the push set, one path a line.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

struct ls_opts {
	int z, lng, dirs;
};

static int print_entry(const struct scan_entry *e, void *arg)
{
	const struct ls_opts *o = arg;
	if (e->type == ENT_DIR && !o->dirs)
		return 0;
	if (o->lng)
		printf("%c %04o %12llu ", e->type == ENT_DIR ? 'd' : e->type == ENT_LINK ? 'l' : 'f',
		       (unsigned)e->mode, (unsigned long long)e->size);
	/* -z is for programs: the exact bytes; a line is for a terminal. */
	fputs(o->z ? e->path : vis(e->path), stdout);
	if (e->type == ENT_DIR)
		putchar('/');
	putchar(o->z ? '\0' : '\n');
	return 0;
}

int cmd_ls_files(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "dirs", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ls_opts o = { 0 };
	struct config cfg;
	struct scan_stats st;
	char *err;
	int c;

	while ((c = getopt_long(argc, argv, "+zldh", opts, NULL)) != -1) {
		switch (c) {
		case 'z': o.z = 1; break;
		case 'l': o.lng = 1; break;
		case 'd': o.dirs = 1; break;
		case 'h': cmd_usage("ls-files", 0); return 0;
		default: cmd_usage("ls-files", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("ls-files", "unexpected '%s'", argv[optind]);
	cmd_load_config(&cfg, ctx->dir);
	int r = scan_push_set(&cfg, print_entry, &o, &st, &err);
	if (r < 0) {
		error_msg("%s", err);
		free(err);
		config_release(&cfg);
		return EXIT_OSERR;
	}
	config_release(&cfg);
	return st.errors ? EXIT_FAIL : 0;
}
