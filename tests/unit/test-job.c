/*
 * test-job.c - job records, request codecs, ids, the capped log, lost
 * detection and the logind.conf reader.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job-sup.h"
#include "job-wire.h"
#include "job.h"
#include "limits.h"
#include "t.h"
#include "util.h"

static struct job sample(void)
{
	struct job j = { .id = 7, .state = JOB_RUNNING, .shell = 0, .exit_code = -1, .start_ns = 1700000000000000000ull,
			 .peak_rss = 123456789, .pid = 4242, .sup_pid = 4241, .sup_start = 99999, .log_bytes = 10,
			 .git_dirty = 1 };
	j.name = xstrdup("train");
	j.argc = 3;
	j.argv = xcalloc(4, sizeof(char *));
	j.argv[0] = xstrdup("python");
	j.argv[1] = xstrdup("train.py");
	j.argv[2] = xstrdup("--lr 3e-4 \n with newline");
	j.root = xstrdup("/home/u/proj");
	j.cwd = xstrdup("/home/u/proj/.ferry/snap/0123456789abcdef");
	j.snapshot = xstrdup("0123456789abcdef");
	j.tree = xstrdup("0123456789abcdef");
	j.git_commit = xstrdup("1a2b3c4d5e6f");
	j.boot_id = xstrdup("boot-1");
	return j;
}

static void test_record(void)
{
	t_case = "job record";
	struct job j = sample(), k;
	struct buf b;
	buf_init(&b, JOB_RECORD_MAX);
	CHECK(job_encode(&j, &b) == 0);
	CHECK(job_decode(b.data, b.len, &k) == 0);
	CHECK(k.id == 7 && k.state == JOB_RUNNING && k.argc == 3 && k.pid == 4242 && k.peak_rss == 123456789);
	CHECK_STR(k.argv[2], "--lr 3e-4 \n with newline");
	CHECK(k.argv[3] == NULL);
	CHECK_STR(k.git_commit, "1a2b3c4d5e6f");
	CHECK(k.git_dirty == 1 && k.exit_code == -1);
	job_release(&k);
	/* Every truncation and a bad state, argc or trailing byte fail; but
	 * a record cut where an optional field starts is an older one
	 * (pid_start, procs_known, procs_left: 14, 7 and 10 bytes). */
	for (size_t n = 0; n < b.len; n++) {
		bool older = n == b.len - 31 || n == b.len - 17 || n == b.len - 10;
		int r = job_decode(b.data, n, &k);
		CHECK(older ? r == 0 : r < 0);
		if (r == 0)
			job_release(&k);
	}
	uint8_t *c = xmalloc(b.len + 1);
	memcpy(c, b.data, b.len);
	c[b.len] = 0;
	CHECK(job_decode(c, b.len + 1, &k) < 0);
	free(c);
	/* A state past the last, tagged like any. */
	j.state = JOB_STATE_COUNT;
	buf_reset(&b);
	CHECK(job_encode(&j, &b) == 0);
	CHECK(job_decode(b.data, b.len, &k) < 0);
	j.state = JOB_RUNNING;
	buf_release(&b);
	job_release(&j);
	CHECK_STR(job_state_name(JOB_LOST), "lost");
	CHECK_STR(job_state_name(200), "unknown");
}

/* The work tree's state travels and is kept: "untracked only" (3) since
 * it was told apart from dirty; past it, refused. */
static void test_record_git(void)
{
	t_case = "job record: git state";
	struct job j = sample(), k;
	struct buf b;
	buf_init(&b, JOB_RECORD_MAX);
	for (uint8_t g = 0; g <= JOB_GIT_COUNT; g++) {
		j.git_dirty = g;
		buf_reset(&b);
		CHECK(job_encode(&j, &b) == 0);
		int r = job_decode(b.data, b.len, &k);
		CHECK(g < JOB_GIT_COUNT ? r == 0 && k.git_dirty == g : r < 0);
		if (r == 0)
			job_release(&k);
	}
	buf_release(&b);
	job_release(&j);
	CHECK_STR(job_git_name(JOB_GIT_UNTRACKED), "untracked");
	CHECK_STR(job_git_name(JOB_GIT_DIRTY), "dirty");
	CHECK_STR(job_git_name(9), "unknown");
}

/* A record as the first version wrote it ("FJB1": no reason, no limits),
 * byte by byte, still reads. */
static void test_record_v1(void)
{
	t_case = "job record: version 1";
	struct buf b;
	struct job k;
	buf_init(&b, JOB_RECORD_MAX);
	buf_put_u32(&b, 0x464a4231u);
	buf_put_u32(&b, 12);		/* id */
	buf_put_u8(&b, JOB_FAILED);
	buf_put_u8(&b, 1);		/* shell */
	buf_put_cstr(&b, "old");
	buf_put_u32(&b, 1);
	buf_put_cstr(&b, "exit 3");
	buf_put_cstr(&b, "/home/u/p");
	buf_put_cstr(&b, "/home/u/p");
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "feedface");
	buf_put_cstr(&b, "1a2b3c4");
	buf_put_u8(&b, JOB_GIT_DIRTY);
	buf_put_u32(&b, 3);		/* exit code */
	buf_put_u32(&b, 0);		/* signal */
	buf_put_u64(&b, 1000);
	buf_put_u64(&b, 2000);
	buf_put_u64(&b, 4096);		/* peak rss */
	buf_put_u32(&b, 77);
	buf_put_u32(&b, 76);
	buf_put_u64(&b, 5);
	buf_put_cstr(&b, "boot");
	buf_put_u64(&b, 64);		/* log bytes */
	buf_put_u8(&b, 0);		/* killed */
	CHECK(job_decode(b.data, b.len, &k) == 0);
	CHECK(k.id == 12 && k.state == JOB_FAILED && k.shell == 1 && k.exit_code == 3 && k.log_bytes == 64);
	CHECK(k.git_dirty == JOB_GIT_DIRTY && k.max_mem == 0 && k.min_avail == 0);
	CHECK_STR(k.argv[0], "exit 3");
	CHECK_STR(k.root, "/home/u/p");
	CHECK_STR(k.reason, "");
	job_release(&k);
	buf_release(&b);
}

/* "FJB2" (positional, the format before tagged fields): loads as a
 * local job, and is written back tagged.  An argv count the bytes cannot
 * hold is refused before anything is allocated for it. */
static void test_record_v2(void)
{
	t_case = "job record: version 2";
	struct buf b, c;
	struct job k;
	buf_init(&b, JOB_RECORD_MAX);
	buf_init(&c, JOB_RECORD_MAX);
	buf_put_u32(&b, 0x464a4232u);
	buf_put_u32(&b, 13);
	buf_put_u8(&b, JOB_KILLED);
	buf_put_u8(&b, 0);
	buf_put_cstr(&b, "v2");
	size_t argc_at = b.len;
	buf_put_u32(&b, 2);
	buf_put_cstr(&b, "sleep");
	buf_put_cstr(&b, "9");
	buf_put_cstr(&b, "/r");
	buf_put_cstr(&b, "/r");
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "");
	buf_put_cstr(&b, "");
	buf_put_u8(&b, JOB_GIT_UNKNOWN);
	buf_put_u32(&b, (uint32_t)-1);
	buf_put_u32(&b, 9);
	buf_put_u64(&b, 1);
	buf_put_u64(&b, 2);
	buf_put_u64(&b, 3);
	buf_put_u32(&b, 5);
	buf_put_u32(&b, 4);
	buf_put_u64(&b, 6);
	buf_put_cstr(&b, "boot");
	buf_put_u64(&b, 7);
	buf_put_u8(&b, 1);
	buf_put_cstr(&b, "memory limit");
	buf_put_u64(&b, 1 << 20);
	buf_put_u64(&b, 0);
	CHECK(job_decode(b.data, b.len, &k) == 0);
	CHECK(k.id == 13 && k.state == JOB_KILLED && k.argc == 2 && k.signal == 9 && k.killed == 1);
	CHECK(k.max_mem == 1 << 20);
	CHECK_STR(k.reason, "memory limit");
	CHECK_STR(k.backend, "local");
	CHECK(job_encode(&k, &c) == 0 && memcmp(c.data, "FJB3", 4) == 0);
	job_release(&k);
	CHECK(job_decode(c.data, c.len, &k) == 0 && k.id == 13 && k.argc == 2);
	CHECK_STR(k.argv[1], "9");
	job_release(&k);
	/* 4096 arguments announced, bytes for far fewer. */
	uint8_t n[4] = { 0, 0, 0x10, 0 };
	memcpy(b.data + argc_at, n, 4);
	CHECK(job_decode(b.data, b.len, &k) < 0);
	/* A positional record cannot say queued: that state came later. */
	memcpy(b.data + argc_at, "\0\0\0\2", 4);
	b.data[8] = JOB_QUEUED;
	CHECK(job_decode(b.data, b.len, &k) < 0);
	buf_release(&b);
	buf_release(&c);
}

static void test_git_state(void)
{
	t_case = "git status --porcelain";
	static const struct { const char *in; uint8_t want; } cases[] = {
		{ "", JOB_GIT_CLEAN },
		{ "?? .ferry/\n", JOB_GIT_UNTRACKED },
		{ "?? a\n?? \"b c\"\n", JOB_GIT_UNTRACKED },
		{ " M src/x.c\n", JOB_GIT_DIRTY },
		{ "?? new.txt\nM  staged.c\n", JOB_GIT_DIRTY },
		{ "D  gone\n", JOB_GIT_DIRTY },
		{ "R  a -> b\n?? c\n", JOB_GIT_DIRTY },
		{ "?? no-newline-at-end", JOB_GIT_UNTRACKED },
		{ "\n", JOB_GIT_CLEAN },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		CHECK(job_git_state(cases[i].in) == cases[i].want);
}

static void test_ids(void)
{
	t_case = "job ids";
	CHECK(job_parse_id("7") == 7);
	CHECK(job_parse_id("#12") == 12);
	CHECK(job_parse_id("0") == 0);
	CHECK(job_parse_id("-1") == 0);
	CHECK(job_parse_id("7x") == 0);
	CHECK(job_parse_id("") == 0);
	CHECK(job_parse_id("99999999999") == 0);
	CHECK(job_parse_id("007") == 0);

	uint32_t ids[] = { 1, 2, 99 }, n;
	struct buf b;
	buf_init(&b, 1024);
	CHECK(job_ids_encode(ids, 3, &b) == 0);
	struct rd r;
	rd_init(&r, b.data, b.len);
	uint32_t *v = job_ids_decode(&r, &n);
	CHECK(v && n == 3 && v[2] == 99 && rd_ok(&r));
	free(v);
	/* A count larger than the bytes there is refused before allocating. */
	uint8_t big[8] = { 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1 };
	rd_init(&r, big, sizeof(big));
	v = job_ids_decode(&r, &n);
	CHECK(v == NULL && !rd_ok(&r));
	buf_release(&b);
}

static void test_start_req(void)
{
	t_case = "job start request";
	char *argv[] = { "echo", "hi", NULL }, *env[] = { "A=1", NULL }, *pull[] = { "results", NULL };
	struct job_start_req q = { .flags = JOBF_SHELL, .name = "n", .root = "~/p", .argv = argv, .argc = 2,
				   .env = env, .envc = 1, .rows = 24, .cols = 80, .git_commit = "abc",
				   .git_dirty = 0, .pull = pull, .npull = 1 }, d;
	struct buf b;
	buf_init(&b, FRAME_MAX);
	CHECK(job_start_encode(&q, &b) == 0);
	struct rd r;
	rd_init(&r, b.data, b.len);
	CHECK(job_start_decode(&r, &d) == 0);
	CHECK(d.argc == 2 && d.envc == 1 && d.npull == 1 && d.rows == 24 && d.cols == 80);
	CHECK_STR(d.argv[1], "hi");
	job_start_release(&d);
	/* The work tree's states, untracked-only included; no more. */
	for (uint8_t g = 0; g <= JOB_GIT_COUNT; g++) {
		struct job_start_req e = q;
		e.git_dirty = g;
		buf_reset(&b);
		CHECK(job_start_encode(&e, &b) == 0);
		rd_init(&r, b.data, b.len);
		int ok = job_start_decode(&r, &d) == 0;
		CHECK(ok == (g < JOB_GIT_COUNT) && (!ok || d.git_dirty == g));
		if (ok)
			job_start_release(&d);
	}
	/* A bad env entry, an escaping pull folder, no argv: refused. */
	char *bad_env[] = { "NOEQUALS", NULL }, *bad_pull[] = { "../up", NULL }, *none[] = { NULL };
	struct job_start_req bads[3] = { q, q, q };
	bads[0].env = bad_env;
	bads[1].pull = bad_pull;
	bads[2].argv = none;
	bads[2].argc = 0;
	for (int i = 0; i < 3; i++) {
		buf_reset(&b);
		CHECK(job_start_encode(&bads[i], &b) == 0);
		rd_init(&r, b.data, b.len);
		CHECK(job_start_decode(&r, &d) < 0);
	}
	buf_release(&b);
}

static char *read_log(const char *dir, uint64_t tail, uint64_t seg_max)
{
	struct job_log l;
	struct buf b;
	char chunk[7];	/* small reads on purpose */
	ssize_t n;
	buf_init(&b, 1 << 20);
	if (job_log_open(&l, dir, tail) < 0)
		return NULL;
	l.seg_max = seg_max;
	while ((n = job_log_read(&l, chunk, sizeof(chunk))) > 0)
		buf_put(&b, chunk, (size_t)n);
	job_log_close(&l);
	buf_put(&b, "", 1);
	char *s = xstrdup((char *)b.data);
	buf_release(&b);
	return s;
}

static void test_log(void)
{
	t_case = "job log";
	char dir[] = "/tmp/ferry-unit-log.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct job_log_writer w;
	CHECK(job_log_writer_open(&w, dfd) == 0);
	w.head_max = 10;
	w.seg_max = 10;
	w.segs = 2;
	/* Under the head cap: all of it. */
	CHECK(job_log_write(&w, "0123456789", 10) == 0);
	char *s = read_log(dir, 0, 10);
	CHECK_STR(s, "0123456789");
	free(s);
	/* Past it: segments, of which the newest two are kept. */
	CHECK(job_log_write(&w, "abcdefghijABCDEFGHIJklmnopqrstKLMN", 34) == 0);
	CHECK(w.total == 44);
	s = read_log(dir, 0, 10);
	CHECK_STR(s, "0123456789\r\n[ferry: 20 bytes of output dropped]\r\nklmnopqrstKLMN");
	free(s);
	/* The tail: the last bytes across segments. */
	s = read_log(dir, 6, 10);
	CHECK_STR(s, "qrstKLMN" + 2);
	free(s);
	s = read_log(dir, 15, 10);
	CHECK_STR(s, "9\r\n[ferry: 20 bytes of output dropped]\r\nklmnopqrstKLMN");
	free(s);
	/* A reader that falls behind the rotation skips with a marker. */
	struct job_log l;
	char chunk[64];
	CHECK(job_log_open(&l, dir, 0) == 0);
	l.seg_max = 10;
	CHECK(job_log_read(&l, chunk, 10) == 10);
	CHECK(job_log_write(&w, "0123456789abcdefghij", 20) == 0);
	ssize_t n = job_log_read(&l, chunk, sizeof(chunk));
	CHECK(n > 0 && memmem(chunk, (size_t)n, "dropped", 7) != NULL);
	job_log_close(&l);
	/* Offsets count every byte written: a reader resumes at one, and a
	 * place since dropped reads as a marker, then what is kept. */
	CHECK(job_log_open(&l, dir, 0) == 0);
	l.seg_max = l.head_max = 10;
	CHECK(job_log_pos(&l) == 0);
	CHECK(job_log_read(&l, chunk, 4) == 4);
	CHECK(job_log_pos(&l) == 4);
	job_log_seek(&l, w.total - 3);
	CHECK(job_log_pos(&l) == w.total - 3);
	n = job_log_read(&l, chunk, sizeof(chunk));
	CHECK(n == 3 && memcmp(chunk, "hij", 3) == 0);
	CHECK(job_log_pos(&l) == w.total);
	CHECK(job_log_read(&l, chunk, sizeof(chunk)) == 0);
	job_log_seek(&l, 12);	/* in a segment deleted long ago */
	n = job_log_read(&l, chunk, sizeof(chunk));
	CHECK(n > 0 && memmem(chunk, (size_t)n, "dropped", 7) != NULL);
	uint64_t after = job_log_pos(&l);
	CHECK(after == w.total - 14);	/* the oldest kept segment, log.5 */
	n = job_log_read(&l, chunk, 10);
	CHECK(n == 10 && memcmp(chunk, "6789abcdef", 10) == 0);
	CHECK(job_log_pos(&l) == after + 10);
	job_log_close(&l);
	job_log_writer_close(&w);
	close(dfd);
	char *cmd = xasprintf("rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
}

/* A running job's log size, from its files: the head, the segments
 * (those deleted counted whole), the newest as it is.  Sparse files. */
static void test_log_size(void)
{
	t_case = "job log size";
	char dir[] = "/tmp/ferry-unit-logsize.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	CHECK(job_log_size(dir) == 0);
	char *head = xasprintf("%s/log", dir), *seg = xasprintf("%s/log.3", dir), *seg4 = xasprintf("%s/log.4", dir);
	CHECK(truncate(head, 0) < 0);	/* not there yet */
	int fd = open(head, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "12345", 5) == 5);
	close(fd);
	CHECK(job_log_size(dir) == 5);
	CHECK(truncate(head, JOB_LOG_HEAD) == 0);
	fd = open(seg, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && ftruncate(fd, JOB_LOG_SEG) == 0);
	close(fd);
	fd = open(seg4, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "xyz", 3) == 3);
	close(fd);
	CHECK(job_log_size(dir) == (uint64_t)JOB_LOG_HEAD + 3ull * JOB_LOG_SEG + 3);
	CHECK(job_log_size("/nonexistent/ferry-log") == 0);
	unlink(seg4);
	unlink(seg);
	unlink(head);
	CHECK(rmdir(dir) == 0);
	free(head);
	free(seg);
	free(seg4);
}

static void test_logs_req(void)
{
	t_case = "job logs request";
	struct job_logs_req q = { .id = 7, .tail = 20, .flags = JOB_LOGS_FOLLOW | JOB_LOGS_AT }, d;
	struct buf b;
	struct rd r;
	buf_init(&b, 64);
	CHECK(job_logs_encode(&q, &b) == 0 && b.len == 9);
	rd_init(&r, b.data, b.len);
	CHECK(job_logs_decode(&r, &d) == 0 && d.id == 7 && d.tail == 20 && d.flags == q.flags && d.from == 0);
	/* The offset travels only with its flag. */
	q.flags |= JOB_LOGS_FROM;
	q.from = 0x0102030405060708ull;
	buf_reset(&b);
	CHECK(job_logs_encode(&q, &b) == 0 && b.len == 17);
	rd_init(&r, b.data, b.len);
	CHECK(job_logs_decode(&r, &d) == 0 && d.from == q.from);
	/* Cut short, trailing bytes, unknown flags. */
	rd_init(&r, b.data, b.len - 1);
	CHECK(job_logs_decode(&r, &d) < 0);
	buf_put_u8(&b, 0);
	rd_init(&r, b.data, b.len);
	CHECK(job_logs_decode(&r, &d) < 0);
	buf_reset(&b);
	q.flags = 0x8;
	CHECK(job_logs_encode(&q, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(job_logs_decode(&r, &d) < 0);
	buf_release(&b);
}

static void test_lost(void)
{
	t_case = "job lost";
	struct job j = sample();
	/* This very process as the supervisor: alive. */
	free(j.boot_id);
	j.boot_id = boot_id();
	j.sup_pid = getpid();
	j.sup_start = proc_start_time(getpid());
	CHECK(j.sup_start > 0);
	CHECK(job_supervisor_alive(&j));
	/* A reused pid (another start time), another boot, no such pid. */
	j.sup_start++;
	CHECK(!job_supervisor_alive(&j));
	j.sup_start--;
	free(j.boot_id);
	j.boot_id = xstrdup("another-boot");
	CHECK(!job_supervisor_alive(&j));
	free(j.boot_id);
	j.boot_id = boot_id();
	j.sup_pid = 0x3ffffff;
	CHECK(!job_supervisor_alive(&j));
	job_release(&j);
}

static void test_logind(void)
{
	t_case = "logind.conf";
	const char *a = "[Login]\n#KillUserProcesses=yes\nKillUserProcesses = yes \n";
	CHECK(logind_kill_setting(a, strlen(a), 0) == 1);
	const char *b = "[Login]\nKillUserProcesses=no\n";
	CHECK(logind_kill_setting(b, strlen(b), 1) == 0);
	const char *c = "[Other]\nKillUserProcesses=yes\n[Login]\nNAutoVTs=6\n";
	CHECK(logind_kill_setting(c, strlen(c), 0) == 0);
	const char *d = "[Login]\r\nKillUserProcesses=1\r\n";
	CHECK(logind_kill_setting(d, strlen(d), 0) == 1);
	const char *e = "[Login]\nKillUserProcessesX=yes\nKillUserProcesses=maybe\n";
	CHECK(logind_kill_setting(e, strlen(e), 0) == 0);
}

/* The state folder above the jobs folder is checked too: in the
 * /tmp/ferry-UID fallback another user could have made it first. */
static void test_jobs_dir_private(void)
{
	t_case = "jobs folder: the state folder is private";
	char top[] = "/tmp/ferry-state-XXXXXX";
	CHECK(mkdtemp(top) != NULL);
	char *old = getenv("XDG_STATE_HOME") ? xstrdup(getenv("XDG_STATE_HOME")) : NULL;
	setenv("XDG_STATE_HOME", top, 1);
	char *state = xasprintf("%s/ferry", top), *jobs = xasprintf("%s/ferry/jobs", top);
	const char *why = NULL;
	struct stat st;
	/* Ours but open to all (an old umask): tightened. */
	CHECK(mkdir(state, 0777) == 0 && chmod(state, 0777) == 0);
	char *d = jobs_dir(&why);
	CHECK(d != NULL);
	CHECK_STR(d, jobs);
	CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(jobs, &st) == 0 && (st.st_mode & 0777) == 0700);
	free(d);
	char *p = jobs_path();
	CHECK_STR(p, jobs);
	free(p);
	/* Another user's (as root, it can be made so): refused. */
	if (geteuid() == 0) {
		CHECK(chown(state, 65534, 65534) == 0);
		why = NULL;
		d = jobs_dir(&why);
		CHECK(d == NULL && why && strstr(why, "another user"));
		free(d);
		CHECK(chown(state, 0, 0) == 0);
	}
	rmdir(jobs);
	rmdir(state);
	rmdir(top);
	if (old)
		setenv("XDG_STATE_HOME", old, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(old);
	free(state);
	free(jobs);
}

void test_job(void)
{
	test_jobs_dir_private();
	test_record();
	test_record_git();
	test_record_v1();
	test_record_v2();
	test_git_state();
	test_ids();
	test_start_req();
	test_log();
	test_log_size();
	test_logs_req();
	test_lost();
	test_logind();
}
