/*
 * agent-main.c - the static agent: `ferry-agent-linux-ARCH agent ...`.
 *
 * The executable the client uploads to servers (see docs/agents.md): the
 * agent half of ferry alone, linked fully static so that it runs on any
 * Linux of its architecture, whatever C library the server has.  It
 * answers --version too, so that a user who finds it in ~/.cache can
 * tell what it is.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "fsx.h"
#include "util.h"

#include "banned.h"

int main(int argc, char **argv)
{
	/* As main.c: fds 0-2 filled first, umask read before any thread. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) != fd)
			return EXIT_OSERR;
	fsx_umask_init();
	if (argc >= 2 && strcmp(argv[1], "agent") == 0)
		return agent_entry(argc - 1, argv + 1);
	if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("ferry agent %s (build %s, static)\n", ferry_version(), ferry_build_id());
		return 0;
	}
	fprintf(stderr, "usage: %s agent [--cwd DIR | --build-id]\n"
		"(this is the ferry agent; the ferry client uploads and starts it on servers)\n",
		argc > 0 ? argv[0] : "ferry-agent");
	return EXIT_USAGE;
}
