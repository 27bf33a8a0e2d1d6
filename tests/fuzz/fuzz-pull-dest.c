/*
 * fuzz-pull-dest.c - libFuzzer harness: the destination engine of a pull
 * (dest_run, as `ferry pull` runs it on the laptop) fed by a hostile
 * source.  The input's first byte picks the flags (dry run, force, a
 * base sent, kept edits on); the rest is the raw byte stream the agent
 * would send (frames: manifest, data, commit).  The engine's answers go
 * to /dev/null.
 *
 * Whatever the stream, nothing may appear outside the pull folder
 * (results/), and the file there that the source never sent keeps its
 * bytes unless force is set: the harness aborts otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "sync-dest.h"
#include "sync-index.h"
#include "util.h"

#define LOCAL_BODY "an edit made here\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *base, *root, *state;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		(void)remove(path);
	return 0;
}

static void setup_once(void)
{
	if (base)
		return;
	char tmpl[] = "/tmp/fuzz-pull-dest.XXXXXX";
	base = xstrdup(mkdtemp(tmpl));
	root = xasprintf("%s/root", base);
	state = xasprintf("%s/state", base);
	(void)mkdir(root, 0755);
	(void)mkdir(state, 0700);
}

/* A fresh tree each run: results/ with a file ferry never put there. */
static void reset_tree(void)
{
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	(void)nftw(state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	char *d = xasprintf("%s/results", root), *f = xasprintf("%s/results/local.txt", root);
	(void)mkdir(d, 0755);
	int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, LOCAL_BODY, strlen(LOCAL_BODY));
		close(fd);
	}
	free(d);
	free(f);
}

/* Only results/ at the root, and the local edit untouched. */
static void check_tree(bool force)
{
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "results"))
			abort();
	if (d)
		closedir(d);
	if (force)
		return;
	char *f = xasprintf("%s/results/local.txt", root), *got = NULL;
	size_t n = 0;
	if (read_file(f, 1024, &got, &n) < 0 || n != strlen(LOCAL_BODY) || memcmp(got, LOCAL_BODY, n) != 0)
		abort();
	free(got);
	free(f);
}

static void on_report(void *arg, uint16_t type, uint32_t code, const char *path, const char *msg)
{
	(void)arg;
	(void)type;
	(void)code;
	(void)path;
	(void)msg;
}

/* A pull's client takes SKIPPED and ERROR notices; here any other frame
 * stops, as there. */
static int on_other(void *arg, uint16_t type, struct rd *body)
{
	(void)arg;
	(void)body;
	return type == MSG_SYNC_SKIPPED || type == MSG_SYNC_ERROR ? 0 : -1;
}

static void on_proto_error(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static bool forget_none(void *arg, const char *path, bool is_dir)
{
	(void)arg;
	(void)path;
	(void)is_dir;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	setup_once();
	reset_tree();
	uint8_t pick = data[0];
	bool force = pick & 2;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return 0;
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	/* The whole stream fits in the socket's buffer: written up front,
	 * then EOF. */
	(void)write_all(sp[0], data + 1, size - 1);
	shutdown(sp[0], SHUT_WR);

	char *ix = xasprintf("%s/pull.index", state), *jf = xasprintf("%s/pull.journal", state);
	char *pull[] = { "results", NULL };
	uint8_t base_id[INDEX_HASH_LEN] = { 0 };
	struct index pre, kin, kout;
	index_init(&pre);
	index_init(&kin);
	index_init(&kout);
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct conn c;
	conn_init(&c, sp[1], nul);
	struct dest_side side = {
		.c = &c, .rootfd = rootfd, .ixfile = ix, .jfile = jf,
		.flags = SYNC_PULL | (pick & 1 ? SYNC_DRY_RUN : 0) | (force ? SYNC_FORCE : 0),
		.base_sent = pick & 4 ? base_id : NULL, .preloaded = &pre, .pull = pull, .npull = 1,
		.pull_side = true, .here = "laptop", .verb = "pull", .report = on_report, .other = on_other,
		.proto_error = on_proto_error, .forget = forget_none,
		.kept_in = pick & 8 ? &kin : NULL, .kept_out = pick & 8 ? &kout : NULL,
	};
	struct sync_plan_end pe;
	struct sync_done done;
	bool lost;
	(void)dest_run(&side, &pe, &done, &lost);
	conn_release(&c);
	index_release(&pre);
	index_release(&kin);
	index_release(&kout);
	close(rootfd);
	close(sp[0]);
	close(sp[1]);
	close(nul);
	free(ix);
	free(jf);
	check_tree(force);
	return 0;
}
