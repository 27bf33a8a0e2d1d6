/*
 * cmd-init.c - `ferry init HOST[:PATH]` / `ferry init --local DIR`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fsx.h"
#include "util.h"

#include "banned.h"

/* Splits "host:path", "[v6]:path" or "host" (path then defaults). */
static int split_target(const char *arg, char **host, char **path)
{
	const char *colon;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (close == NULL)
			return -1;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] != ':' && close[1] != '\0')
			return -1;
	} else {
		colon = strchr(arg, ':');
	}
	*host = colon ? xstrndup(arg, (size_t)(colon - arg)) : xstrdup(arg);
	*path = colon && colon[1] ? xstrdup(colon + 1) : NULL;
	return 0;
}

int cmd_init(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "local", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *local = NULL;
	int force = 0, c;
	char *host = NULL, *path = NULL;

	while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': force = 1; break;
		case 'l': local = optarg; break;
		case 'h': cmd_usage("init", 0); return 0;
		default: cmd_usage(argv[0], 1); return EXIT_USAGE;
		}
	}
	char *root = path_absolute(ctx->dir);
	const char *base = strrchr(root, '/') + 1;
	if (local != NULL) {
		if (optind != argc)
			cmd_usage_die("init", "--local takes one folder; unexpected '%s'", argv[optind]);
		if (local[0] == '\0' || strchr(local, '\n'))
			cmd_usage_die("init", "'%s' is not a usable folder", local);
		char *abs = path_absolute(local);
		size_t rl = strlen(root);
		if (strcmp(abs, root) == 0 || (strncmp(abs, root, rl) == 0 && abs[rl] == '/') ||
		    (strncmp(root, abs, strlen(abs)) == 0 && (root[strlen(abs)] == '/' || strcmp(abs, "/") == 0))) {
			error_msg("the local target '%s' must be outside the project folder '%s' and not contain it", abs, root);
			hint_msg("pick a separate folder, e.g. ferry init --local /tmp/%s-remote", base);
			free(abs);
			free(root);
			return EXIT_USAGE;
		}
		path = abs;
	} else {
		if (optind + 1 != argc)
			cmd_usage_die("init", optind == argc ? "missing HOST[:PATH]" : "unexpected '%s'", argv[optind + 1 - (optind == argc)]);
		if (split_target(argv[optind], &host, &path) < 0 || host[0] == '\0' || host[0] == '-' ||
		    strpbrk(host, " \t\n'\"\\") != NULL)
			cmd_usage_die("init", "'%s' is not HOST[:PATH] (an ssh host alias or user@host, then a folder)", argv[optind]);
		if (path == NULL)
			path = xasprintf("~/%s", base);
		if (strchr(path, '\n'))
			cmd_usage_die("init", "the path may not contain a newline");
	}

	char *text = config_render(local ? TARGET_LOCAL : TARGET_SSH, host, path);
	char *file = xasprintf("%s/%s", root, CONFIG_NAME);
	int r = write_file_atomic(file, text, strlen(text), 0644, !force);
	int ret = 0;
	if (r == -EEXIST) {
		error_msg("'%s' already exists", file);
		hint_msg("use `ferry init --force ...` to replace it, or edit it by hand");
		ret = EXIT_FAIL;
	} else if (r < 0) {
		error_msg("cannot write '%s': %s", file, strerror(-r));
		ret = EXIT_OSERR;
	} else {
		if (local)
			printf("wrote %s: local target in %s\n", file, path);
		else
			printf("wrote %s: %s:%s\n", file, host, path);
		printf("push sends your code: git's files (tracked ones, and untracked ones .gitignore does not ignore): `ferry ls-files`\n"
		       "pull brings back the pull folders (results/) whole, whatever .gitignore says\n");
		printf("next: ferry doctor, then ferry exec -- CMD\n");
	}
	free(text);
	free(file);
	free(root);
	free(host);
	free(path);
	return ret;
}
