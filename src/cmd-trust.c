/*
 * cmd-trust.c - `ferry trust [--revoke | --list]`: let this project's
 * ferry.ini name programs run on this computer (ssh_command), or not.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "trust.h"
#include "util.h"

#include "banned.h"

static int show_and_trust(const struct config *c)
{
	if (!c->program_in_file) {
		printf("%s names no program to run on this computer: nothing to trust\n", c->file);
		return 0;
	}
	printf("%s names programs that ferry runs on this computer:\n", c->file);
	for (int k = 0; k < KEY__COUNT; k++) {
		if (c->file_program[k] == NULL)
			continue;
		printf("  line %-4d %s = %s\n", c->line[k], config_key_name((enum config_key)k), c->file_program[k]);
		if (c->src[k] != SRC_PROJECT) {
			char *o = config_origin(c, (enum config_key)k);
			printf("            (not in use now: %s sets it)\n", o);
			free(o);
		}
	}
	if (c->trusted) {
		printf("already trusted; `ferry trust --revoke` takes it back\n");
		return 0;
	}
	char *err = NULL;
	if (trust_add(c, &err) < 0) {
		error_msg("%s", err);
		free(err);
		return EXIT_OSERR;
	}
	printf("trusted: ferry runs them from this folder until the file changes; `ferry trust --revoke` takes it back\n");
	return 0;
}

int cmd_trust(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "revoke", no_argument, NULL, 'r' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool revoke = false, list = false;
	int o;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (o) {
		case 'r': revoke = true; break;
		case 'l': list = true; break;
		case 'h': cmd_usage("trust", 0); return 0;
		default: cmd_usage("trust", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("trust", "unexpected '%s'", argv[optind]);
	if (revoke && list)
		cmd_usage_die("trust", "--revoke and --list do not go together");

	char *err = NULL;
	if (list) {
		struct strlist l = { 0 };
		if (trust_list(&l, &err) < 0) {
			error_msg("%s", err);
			free(err);
			return EXIT_CONFIG;
		}
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.v[i]);
		strlist_release(&l);
		return 0;
	}
	struct config c;
	char *untrusted = NULL;
	cmd_load_config_any(&c, ctx->dir, &untrusted);
	free(untrusted);
	int ret = 0;
	if (revoke) {
		bool had = false;
		if (trust_revoke(c.root, &had, &err) < 0) {
			error_msg("%s", err);
			free(err);
			ret = EXIT_OSERR;
		} else {
			printf(had ? "%s is no longer trusted\n" : "%s was not trusted\n", c.file);
		}
	} else {
		ret = show_and_trust(&c);
	}
	config_release(&c);
	return ret;
}
