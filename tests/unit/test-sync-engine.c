/*
 * test-sync-engine.c - the two halves of a sync talking to each other:
 * source_run (this process) against dest_run (a child), over a
 * socketpair, on real trees in a temp folder.  Between them a relay
 * child may cut the link after N bytes from the source: whatever the
 * cut, nothing at the destination is partly written or lost, and the
 * next sync converges.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "spawn.h"
#include "sync-dest.h"
#include "sync-scan.h"
#include "sync-source.h"
#include "t.h"
#include "util.h"

#define BIG_SIZE	(1024 * 1024 + 7)	/* spans many DATA frames */
#define CHANGED		(96 * 1024)		/* of it, changed: a delta's literal */
#define NO_CUT		((size_t)-1)

struct trees {
	char *base, *src, *dst, *state;
};

static void put_file(const char *root, const char *rel, const void *p, size_t n)
{
	char *path = xasprintf("%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write_all(fd, p, n);
		close(fd);
	}
	free(path);
}

/* Bytes that differ at every offset and between seeds: a cut shows. */
static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = xmalloc(n);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

static void make_source(const struct trees *t)
{
	char *d = xasprintf("%s/sub", t->src);
	mkdir(d, 0755);
	free(d);
	for (int i = 0; i < 20; i++) {
		char name[32], body[64];
		snprintf(name, sizeof(name), "sub/f%02d.txt", i);
		int n = snprintf(body, sizeof(body), "small file %d\n", i);
		put_file(t->src, name, body, (size_t)n);
	}
	uint8_t *big = pattern(BIG_SIZE, 1);
	put_file(t->src, "big.bin", big, BIG_SIZE);
	free(big);
}

/* The destination, in a child: 0 when dest_run ended as planned. */
static void dest_child(const struct trees *t, int fd)
{
	char *ix = xasprintf("%s/push.index", t->state), *jf = xasprintf("%s/push.journal", t->state);
	int rootfd = open(t->dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct conn c;
	conn_init(&c, fd, fd);
	fd_nonblock(fd);
	struct dest_side side = {
		.c = &c, .rootfd = rootfd, .ixfile = ix, .jfile = jf, .here = "server", .verb = "push",
	};
	struct sync_plan_end pe;
	struct sync_done done;
	int r = dest_run(&side, &pe, &done, NULL);
	(void)conn_flush(&c);
	_exit(r == 0 ? 0 : 1);
}

/* Copies between a and b; closes both after limit bytes from a. */
static void relay_child(int a, int b, size_t limit)
{
	size_t passed = 0;
	struct pollfd pf[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	for (;;) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (!pf[i].revents)
				continue;
			char buf[4096];
			ssize_t n = read(pf[i].fd, buf, sizeof(buf));
			if (n <= 0)
				_exit(0);
			size_t take = (size_t)n;
			if (i == 0 && passed + take > limit)
				take = limit - passed;
			if (write_all(i == 0 ? b : a, buf, take) < 0)
				_exit(0);
			if (i == 0 && (passed += take) >= limit)
				_exit(0);	/* the cut: both ends close */
		}
	}
	_exit(0);
}

/* One push from src to dst, the link cut after cut bytes (NO_CUT: none).
 * 0 when the source side ended as planned; *need, the files asked for. */
static int sync_once(const struct trees *t, size_t cut, size_t *need)
{
	int sp[2], rp[2] = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -2;
	int dest_end = sp[1], src_end = sp[0];
	pid_t relay = -1;
	if (cut != NO_CUT) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rp) < 0)
			return -2;
		relay = fork();
		if (relay == 0) {
			close(rp[0]);
			close(sp[1]);
			relay_child(rp[1], sp[0], cut);
		}
		close(rp[1]);
		close(sp[0]);
		src_end = rp[0];
	}
	pid_t dest = fork();
	if (dest == 0) {
		close(src_end);
		dest_child(t, dest_end);
	}
	close(dest_end);

	char *cache = xasprintf("%s/source.cache", t->state);
	int rootfd = open(t->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct source src;
	struct scan_stats st;
	char *err = NULL;
	source_init(&src, rootfd, cache);
	struct scan_spec spec = { .root = t->src, .what = "push folder" };
	int r = scan_tree(&spec, source_add, &src, &st, &err);
	source_scan_done(&src);
	struct conn c;
	conn_init(&c, src_end, src_end);
	fd_nonblock(src_end);
	struct source_side side = { .c = &c, .src = &src };
	struct source_result res;
	if (r == 0)
		r = source_run(&side, &res);
	*need = res.nneed;
	if (r == 0)
		source_save_cache(&src, cache);
	source_result_release(&res);
	conn_release(&c);
	close(src_end);
	int stat;
	waitpid(dest, &stat, 0);
	if (relay > 0)
		waitpid(relay, NULL, 0);
	source_release(&src);
	close(rootfd);
	free(cache);
	free(err);
	return r;
}

/* A destination that asks for no file, says its plan is *pe, and then
 * answers the commit with *done, true or not. */
static void forging_dest_child(int fd, const struct sync_plan_end *pe, const struct sync_done *done)
{
	struct conn c;
	struct buf b;
	uint16_t type;
	struct rd body;
	conn_init(&c, fd, fd);
	while (conn_read(&c, &type, &body) == 1 && type != MSG_SYNC_ENTRIES_END)
		;
	buf_init(&b, 64);
	sync_plan_end_encode(pe, &b);
	conn_queue(&c, MSG_SYNC_PLAN_END, b.data, b.len);
	(void)conn_flush(&c);
	while (conn_read(&c, &type, &body) == 1 && type != MSG_SYNC_COMMIT)
		;
	buf_release(&b);
	buf_init(&b, 64);
	sync_done_encode(done, &b);
	conn_queue(&c, MSG_SYNC_DONE, b.data, b.len);
	(void)conn_flush(&c);
	_exit(0);
}

static void count_proto_error(void *arg, uint16_t type)
{
	if (type == MSG_SYNC_DONE)
		(*(int *)arg)++;
}

/* A push of src to a destination whose SYNC_DONE says *done: source_run's
 * result; *bad, the protocol errors it reported for the DONE. */
static int push_to_forger(const struct trees *t, const struct sync_plan_end *pe, const struct sync_done *done,
			  int *bad)
{
	int sp[2];
	*bad = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -2;
	pid_t dest = fork();
	if (dest == 0) {
		close(sp[0]);
		forging_dest_child(sp[1], pe, done);
	}
	close(sp[1]);
	int rootfd = open(t->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct source src;
	struct scan_stats st;
	char *err = NULL;
	source_init(&src, rootfd, NULL);
	struct scan_spec spec = { .root = t->src, .what = "push folder" };
	int r = scan_tree(&spec, source_add, &src, &st, &err);
	source_scan_done(&src);
	struct conn c;
	conn_init(&c, sp[0], sp[0]);
	fd_nonblock(sp[0]);
	struct source_side side = { .c = &c, .src = &src, .wait_done = true,
				    .proto_error = count_proto_error, .arg = bad };
	struct source_result res;
	if (r == 0)
		r = source_run(&side, &res);
	source_result_release(&res);
	conn_release(&c);
	close(sp[0]);
	waitpid(dest, NULL, 0);
	source_release(&src);
	close(rootfd);
	free(err);
	return r;
}

static char *slurp(const char *root, const char *rel, size_t *n)
{
	char *path = xasprintf("%s/%s", root, rel), *data = NULL;
	if (read_file(path, 64u << 20, &data, n) < 0)
		data = NULL;
	free(path);
	return data;
}

/* Every file at dst is absent or whole: as at src, or for big.bin as
 * old (its previous version, NULL: none).  With all, every file must be
 * there as at src. */
static bool check_tree(const struct trees *t, bool all, const uint8_t *old)
{
	static const char *const names[] = { "big.bin", "sub/f00.txt", "sub/f07.txt", "sub/f19.txt" };
	bool ok = true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t a = 0, b = 0;
		char *x = slurp(t->src, names[i], &a), *y = slurp(t->dst, names[i], &b);
		bool same = x && y && a == b && memcmp(x, y, a) == 0;
		bool was = !all && old && i == 0 && y && b == BIG_SIZE && memcmp(old, y, b) == 0;
		if (y == NULL)
			ok &= !all;
		else
			ok &= same || was;
		free(x);
		free(y);
	}
	return ok;
}

static int count_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, ".ferry-tmp", 10) == 0;
	closedir(d);
	return n;
}

static void rm_rf(const char *p)
{
	char *cmd = xasprintf("rm -rf '%s'", p);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", p);
	free(cmd);
}

/* A cut after cut bytes, then a rerun: converges, then a no-op. */
/* lost: the cut comes early enough that the source must see it. */
static void cut_then_converge(const struct trees *t, size_t cut, const uint8_t *old, bool lost)
{
	size_t need = 0;
	int r = sync_once(t, cut, &need);
	if (lost)
		CHECK(r == -1);
	CHECK(check_tree(t, false, old));
	need = 0;
	CHECK(sync_once(t, NO_CUT, &need) == 0);
	CHECK(check_tree(t, true, NULL));
	CHECK(count_temps(t->dst) == 0);
	char *sub = xasprintf("%s/sub", t->dst);
	CHECK(count_temps(sub) == 0);
	free(sub);
	need = 1;
	CHECK(sync_once(t, NO_CUT, &need) == 0);
	CHECK(need == 0);
}

/* dest_base: which fd a path lives beneath, and its path there. */
static void check_dest_base(void)
{
	const struct dest_redir r[] = {
		{ .path = "results", .fd = 7 },
		{ .path = "out/res", .fd = 8 },
		{ .path = "other", .fd = -1, .why = "a symlink to x, owned by another user: not followed" },
		{ .path = "plain", .fd = -1 },
	};
	const char *rest;
	t_case = "dest_base";
	CHECK(dest_base(r, 4, 3, "results", &rest) == 7 && strcmp(rest, "") == 0);
	CHECK(dest_base(r, 4, 3, "results/a/b.txt", &rest) == 7 && strcmp(rest, "a/b.txt") == 0);
	CHECK(dest_base(r, 4, 3, "resultsx/a", &rest) == 3 && strcmp(rest, "resultsx/a") == 0);
	CHECK(dest_base(r, 4, 3, "results2", &rest) == 3 && strcmp(rest, "results2") == 0);
	CHECK(dest_base(r, 4, 3, "out/res/f", &rest) == 8 && strcmp(rest, "f") == 0);
	CHECK(dest_base(r, 4, 3, "out/resx", &rest) == 3 && strcmp(rest, "out/resx") == 0);
	CHECK(dest_base(r, 4, 3, "out", &rest) == 3 && strcmp(rest, "out") == 0);
	/* Not followed, or no symlink: beneath the root, as ever. */
	CHECK(dest_base(r, 4, 3, "other/f", &rest) == 3 && strcmp(rest, "other/f") == 0);
	CHECK(dest_base(r, 4, 3, "plain/f", &rest) == 3 && strcmp(rest, "plain/f") == 0);
	CHECK(dest_base(r, 0, 3, "results/f", &rest) == 3 && strcmp(rest, "results/f") == 0);
	/* The longest pull folder wins. */
	const struct dest_redir nest[] = { { .path = "a", .fd = 5 }, { .path = "a/b", .fd = 6 } };
	CHECK(dest_base(nest, 2, 3, "a/b/c", &rest) == 6 && strcmp(rest, "c") == 0);
	CHECK(dest_base(nest, 2, 3, "a/bc", &rest) == 5 && strcmp(rest, "bc") == 0);
}

void test_sync_engine(void)
{
	check_dest_base();
	char tmpl[] = "/tmp/ferry-engine.XXXXXX";
	struct trees t;
	size_t need = 0;
	signal(SIGPIPE, SIG_IGN);
	t.base = xstrdup(mkdtemp(tmpl));
	t.src = xasprintf("%s/src", t.base);
	t.dst = xasprintf("%s/dst", t.base);
	t.state = xasprintf("%s/state", t.base);
	mkdir(t.src, 0755);
	mkdir(t.dst, 0755);
	mkdir(t.state, 0700);
	make_source(&t);

	/* SYNC_DONE is checked against the plan: a destination that asked
	 * for nothing cannot have written, deleted or received anything; a
	 * plan that claims more than it asked for does not make it so. */
	static const struct {
		struct sync_plan_end pe;
		struct sync_done done;
	} forged[] = {
		{ { 0 }, { .written = UINT32_MAX } },
		{ { 0 }, { .written = 1 } },
		{ { 0 }, { .deleted = 1 } },
		{ { 0 }, { .bytes = 1 } },
		{ { 0 }, { .conflicts = UINT32_MAX } },
		{ { 0 }, { .errors = UINT32_MAX } },
		{ { .need = UINT32_MAX }, { .written = UINT32_MAX } },
		{ { .need = 5 }, { .written = 5 } },
		/* more than an index holds (indexed: no guard trips) */
		{ { .deletes = INDEX_ENTRIES_MAX + 1, .indexed = UINT32_MAX }, { .deleted = INDEX_ENTRIES_MAX + 1 } },
	};
	static const struct sync_plan_end nothing = { 0 };
	int bad;
	t_case = "SYNC_DONE: what the plan allows";
	CHECK(push_to_forger(&t, &nothing, &(struct sync_done){ .conflicts = 2, .errors = 1 }, &bad) == 0 && bad == 0);
	CHECK(push_to_forger(&t, &(struct sync_plan_end){ .deletes = 3 }, &(struct sync_done){ .deleted = 3 }, &bad) == 0 &&
	      bad == 0);
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		t_case = "SYNC_DONE: impossible counts are a protocol error";
		CHECK(push_to_forger(&t, &forged[i].pe, &forged[i].done, &bad) < 0 && bad == 1);
	}

	t_case = "first sync, no cut";
	CHECK(sync_once(&t, NO_CUT, &need) == 0);
	CHECK(need == 21);
	CHECK(check_tree(&t, true, NULL));

	/* The destination starts over; cuts in the manifest, in the big
	 * file's data, near its end. */
	static const size_t cuts[] = { 100, 3000, 200000, 700000, BIG_SIZE - 100 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		t_case = "cut in a first sync";
		rm_rf(t.dst);
		rm_rf(t.state);
		mkdir(t.dst, 0755);
		mkdir(t.state, 0700);
		cut_then_converge(&t, cuts[i], NULL, cuts[i] < BIG_SIZE / 2);
	}

	/* A changed big file goes as a delta (the old version is there):
	 * a cut in the middle of it leaves the old version whole. */
	static const size_t dcuts[] = { 600, 3000, 20000, 50000 };
	uint8_t *big = pattern(BIG_SIZE, 1);
	for (size_t i = 0; i < sizeof(dcuts) / sizeof(dcuts[0]); i++) {
		t_case = "cut in a delta";
		uint8_t *old = xmalloc(BIG_SIZE);
		memcpy(old, big, BIG_SIZE);
		uint8_t *part = pattern(CHANGED, (uint32_t)i + 2);
		memcpy(big + BIG_SIZE / 2, part, CHANGED);
		free(part);
		put_file(t.src, "big.bin", big, BIG_SIZE);
		cut_then_converge(&t, dcuts[i], old, dcuts[i] < CHANGED / 2);
		free(old);
	}
	free(big);

	rm_rf(t.base);
	free(t.base);
	free(t.src);
	free(t.dst);
	free(t.state);
}
