/*
 * cmd-diff.c - `ferry diff PATH...`: the server's copy of a file against
 * the laptop's, as `diff -u` shows them, to resolve a conflict by hand.
 * The server's copy comes whole (FILE_GET, at most DIFF_FILE_MAX bytes)
 * into a private temp file; diff(1) does the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "fsx.h"
#include "limits.h"
#include "proto.h"
#include "session.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

/* The server's copy of rel into fd.  1 fetched, 0 no such file there, or
 * dies with one line. */
static int fetch(struct session *s, const struct config *cfg, const char *rel, int fd)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	buf_put_cstr(&b, cfg->path);
	buf_put_cstr(&b, rel);
	buf_put_u64(&b, DIFF_FILE_MAX);
	conn_queue(&s->c, MSG_FILE_GET, b.data, b.len);
	buf_release(&b);
	for (;;) {
		uint16_t type;
		struct rd body;
		int r = conn_flush(&s->c) < 0 ? 0 : conn_read(&s->c, &type, &body);
		if (r <= 0) {
			struct ferr e = { 0 };
			err_from_read(s, r, true, &e);
			ferr_die(&e);
		}
		if (type == MSG_FILE_DATA) {
			size_t n = rd_left(&body);
			const uint8_t *p = rd_bytes(&body, n);
			if (p && write_all(fd, p, n) < 0)
				die(EXIT_OSERR, "cannot write a temp file: %s", strerror(errno));
			continue;
		}
		if (type == MSG_FILE_END) {
			(void)rd_u64(&body);
			(void)rd_u32(&body);
			rd_expect_end(&body);
			if (!rd_ok(&body))
				die(EXIT_PROTO, "malformed file end from the agent on '%s'", s->label);
			return 1;
		}
		if (type != MSG_ERROR)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		struct ferr e = { 0 };
		if (err_from_peer(&body, s->label, &e) == PERR_NOFILE) {
			ferr_release(&e);
			return 0;
		}
		ferr_die(&e);
	}
}

int cmd_diff(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': cmd_usage("diff", 0); return 0;
		default: cmd_usage("diff", 1); return EXIT_USAGE;
		}
	}
	if (optind == argc)
		cmd_usage_die("diff", "name the files to compare (a conflict's path, as push or pull printed it)");
	struct config cfg;
	cmd_load_config(&cfg, ctx->dir);
	char **rel = xcalloc((size_t)(argc - optind) + 1, sizeof(char *));
	for (int i = optind; i < argc; i++) {
		rel[i - optind] = cmd_project_path(&cfg, argv[i]);
		if (rel[i - optind] == NULL)
			cmd_usage_die("diff", "'%s' is not a path inside the project (%s)", argv[i], cfg.root);
	}
	const char *tmpdir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
	struct session s;
	struct ferr e = { 0 };
	struct session_opts so = { 0 };
	if (session_open(&s, &cfg, &so, 0, NULL, &e) < 0)
		ferr_die(&e);
	int code = 0;
	for (int i = 0; rel[i]; i++) {
		char *tmp = xasprintf("%s/ferry-diff.XXXXXX", tmpdir);
		int fd = mkstemp(tmp);
		if (fd < 0)
			die(EXIT_OSERR, "cannot make a temp file in %s: %s", tmpdir, strerror(errno));
		bool there = fetch(&s, &cfg, rel[i], fd) == 1;
		close(fd);
		char *local = xasprintf("%s/%s", cfg.root, rel[i]);
		struct stat st;
		bool here = lstat(local, &st) == 0;
		if (!there && !here) {
			error_msg("%s: on neither side", rel[i]);
			code = 2;
		} else {
			/* The headers are ferry's lines; the contents are the files'. */
			char *l1 = xasprintf("server:%s%s", vis(rel[i]), there ? "" : " (none)");
			char *l2 = xasprintf("laptop:%s%s", vis(rel[i]), here ? "" : " (none)");
			char *args[] = { "diff", "-u", "--label", l1, "--label", l2, there ? tmp : "/dev/null",
					 here ? local : "/dev/null", NULL };
			struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_INHERIT, .err = SPAWN_INHERIT };
			struct child ch;
			fflush(stdout);
			int r = spawn(args, &o, &ch);
			int status = 0;
			if (r < 0 || wait_child(ch.pid, &status) < 0)
				die(EXIT_OSERR, "cannot run diff: %s", strerror(r < 0 ? -r : errno));
			int d = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
			if (d > code)
				code = d;
			free(l1);
			free(l2);
		}
		unlink(tmp);
		free(tmp);
		free(local);
	}
	session_close(&s);
	free_words(rel);
	config_release(&cfg);
	return code;
}
