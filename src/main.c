/*
 * main.c - `ferry COMMAND` on the laptop, `ferry agent` on the server:
 * one executable, two roles.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "agent-bundle.h"
#include "agent.h"
#include "cmd.h"
#include "fsx.h"
#include "util.h"

#include "banned.h"

/* The version, and the agents this client carries (agent-bundle.h). */
static void print_version(void)
{
	struct utsname u;
	char *have = bundle_platforms(), *dir = bundle_dir();
	printf("ferry %s (build %s)\n", ferry_version(), ferry_build_id());
	uname(&u);
	if (have[0])
		printf("agents: %s (in %s)\n", have, dir);
	else
		printf("agents: none beside this ferry; it uploads itself, for %s %s servers only\n", u.sysname, u.machine);
	free(have);
	free(dir);
}

int main(int argc, char **argv)
{
	int i = 1;
	struct cmd_ctx ctx = { .dir = "." };

	/* With fd 0, 1 or 2 closed, the next pipe would land there and be
	 * taken for stdin or stdout: fill them with /dev/null first. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			return EXIT_OSERR;
	/* Before any thread: the only safe moment for umask()'s read. */
	fsx_umask_init();

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc) {
			ctx.dir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-C") == 0) {
			error_msg("-C needs a folder");
			fprintf(stderr, "usage: ferry [-C DIR] COMMAND [ARGS]   (ferry --help lists commands)\n");
			return EXIT_USAGE;
		} else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			print_version();
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cmd_list();
			return 0;
		} else {
			error_msg("unknown option '%s'", argv[i]);
			fprintf(stderr, "usage: ferry [-C DIR] COMMAND [ARGS]   (ferry --help lists commands)\n");
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		cmd_list();
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "agent") == 0)
		return agent_entry(argc - i, argv + i);
	const struct cmd *c = cmd_find(argv[i]);
	if (c == NULL) {
		error_msg("unknown command '%s'", argv[i]);
		hint_msg("`ferry --help` lists the commands");
		return EXIT_USAGE;
	}
	return c->fn(&ctx, argc - i, argv + i);
}
