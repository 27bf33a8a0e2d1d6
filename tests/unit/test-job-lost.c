/*
 * test-job-lost.c - jobs whose supervisor is gone (issue 24, rows 8 and
 * 10): liveness and the job's processes read from a fake /proc tree (a
 * zombie supervisor or command is not alive, a pid used again by a later
 * process is not the job's), the record's pid_start field (older records
 * still load), and the kill of a lost job against real processes: one
 * whose pid is now another process's is never signalled.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "job-backend.h"
#include "job.h"
#include "t.h"
#include "util.h"

static char proc[64];

/* PROC/pid/stat as the kernel writes it: 52 fields, the name in parens
 * (with a ") " inside, as a process may call itself). */
static void fake_stat(int pid, char state, int pgrp, int session, unsigned long long start)
{
	char *d = xasprintf("%s/%d", proc, pid), *f = xasprintf("%s/stat", d);
	(void)mkdir(d, 0700);
	char *line = xasprintf("%d (odd) name) %c 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 %llu 1000000 "
			       "250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			       pid, state, pgrp, session, start);
	CHECK(job_put_file(f, line, strlen(line)) == 0);
	free(line);
	free(f);
	free(d);
}

static void fake_gone(int pid)
{
	char *cmd = xasprintf("rm -rf '%s/%d'", proc, pid);
	CHECK(system(cmd) == 0);
	free(cmd);
}

static struct job lost_job(void)
{
	struct job j = { .id = 1, .state = JOB_RUNNING, .pid = 200, .pid_start = 1000, .sup_pid = 100,
			 .sup_start = 990 };
	j.boot_id = xstrdup("boot-a");
	return j;
}

static size_t procs(const struct job *j, bool *group, pid_t *p)
{
	uint64_t st[16];
	return job_procs_in(proc, j, p, st, 16, group);
}

static void test_supervisor_alive(void)
{
	t_case = "a zombie supervisor is not alive";
	struct job j = lost_job();
	fake_stat(100, 'S', 100, 100, 990);
	CHECK(job_supervisor_alive_in(proc, &j));
	/* Exited, not reaped by its parent: state Z, the same start. */
	fake_stat(100, 'Z', 100, 100, 990);
	CHECK(!job_supervisor_alive_in(proc, &j));
	fake_stat(100, 'X', 100, 100, 990);
	CHECK(!job_supervisor_alive_in(proc, &j));
	/* Its pid now another process's. */
	fake_stat(100, 'S', 100, 100, 7777);
	CHECK(!job_supervisor_alive_in(proc, &j));
	CHECK(!job_proc_alive(proc, 100, 990));
	CHECK(job_proc_alive(proc, 100, 7777));
	/* Another boot. */
	fake_stat(100, 'S', 100, 100, 990);
	free(j.boot_id);
	j.boot_id = xstrdup("boot-b");
	CHECK(!job_supervisor_alive_in(proc, &j));
	fake_gone(100);
	free(j.boot_id);
	j.boot_id = xstrdup("boot-a");
	CHECK(!job_supervisor_alive_in(proc, &j));
	/* A stat file that does not parse is no process. */
	char *f = xasprintf("%s/100", proc), *g = xasprintf("%s/100/stat", proc);
	(void)mkdir(f, 0700);
	CHECK(job_put_file(g, "100 (x", 6) == 0);
	CHECK(!job_supervisor_alive_in(proc, &j));
	fake_gone(100);
	free(f);
	free(g);
	job_release(&j);
}

static void test_procs(void)
{
	t_case = "a lost job's processes: session, group, start time";
	struct job j = lost_job();
	pid_t p[16];
	bool group;
	fake_stat(200, 'S', 200, 200, 1000);	/* the command */
	fake_stat(201, 'S', 200, 200, 1001);	/* a child in its group */
	fake_stat(202, 'R', 202, 200, 1002);	/* its own group, the same session */
	fake_stat(203, 'Z', 200, 200, 1003);	/* a zombie: runs nothing */
	fake_stat(204, 'S', 200, 200, 900);	/* started before the job: not its own */
	fake_stat(205, 'S', 205, 205, 1005);	/* another session */
	CHECK(procs(&j, &group, p) == 3 && group);
	/* The command a zombie (exited, no one reaped it): its children
	 * still run, under the same session and group. */
	fake_stat(200, 'Z', 200, 200, 1000);
	CHECK(procs(&j, &group, p) == 2 && group);
	/* The command gone altogether: what is left of its session. */
	fake_gone(200);
	CHECK(procs(&j, &group, p) == 2 && group);
	fake_gone(201);
	CHECK(procs(&j, &group, p) == 1 && !group && p[0] == 202);
	/* The command's pid taken by a later process: that number's
	 * session and group are the newcomer's, never killed as the job. */
	fake_stat(200, 'S', 200, 200, 5000);
	fake_stat(201, 'S', 200, 200, 5001);
	CHECK(procs(&j, &group, p) == 0);
	/* A record from before pid_start: the supervisor's start bounds it. */
	fake_stat(200, 'S', 200, 200, 1000);
	j.pid_start = 0;
	CHECK(procs(&j, &group, p) == 3);	/* 200, 201 (5001), 202; not 204 */
	fake_stat(200, 'S', 200, 200, 950);	/* the pid older than the supervisor */
	CHECK(procs(&j, &group, p) == 0);
	j.pid_start = 1000;
	/* Another boot: nothing is left of it. */
	fake_stat(200, 'S', 200, 200, 1000);
	free(j.boot_id);
	j.boot_id = xstrdup("boot-b");
	CHECK(procs(&j, &group, p) == 0);
	job_release(&j);
	for (int i = 200; i <= 205; i++)
		fake_gone(i);
}

static void test_record(void)
{
	t_case = "pid_start in the record; older records load";
	struct job j = { .id = 9, .state = JOB_RUNNING, .pid = 4242, .pid_start = 123456789, .procs_known = 1,
			 .procs_left = 3, .exit_code = -1 };
	char *argv[] = { "sleep", "300", NULL };
	j.argc = 2;
	j.argv = argv;
	struct buf b;
	buf_init(&b, 1 << 20);
	CHECK(job_encode(&j, &b) == 0);
	struct job d;
	CHECK(job_decode(b.data, b.len, &d) == 0);
	CHECK(d.pid_start == 123456789 && d.procs_known == 1 && d.procs_left == 3);
	job_release(&d);
	/* The three new fields are the last 31 bytes (tag, length, value):
	 * without them, the record of an older supervisor. */
	CHECK(job_decode(b.data, b.len - 31, &d) == 0);
	CHECK(d.pid == 4242 && d.pid_start == 0 && d.procs_known == 0 && d.procs_left == 0);
	job_release(&d);
	/* procs_known is 0 or 1. */
	b.data[b.len - 11] = 2;
	CHECK(job_decode(b.data, b.len, &d) < 0);
	buf_release(&b);
}

/* A child in a session of its own that sleeps: a lost job's command. */
static pid_t sleeper(void)
{
	pid_t p = fork();
	if (p == 0) {
		(void)setsid();
		execlp("sleep", "sleep", "300", (char *)NULL);
		_exit(127);
	}
	/* Until it runs sleep (its start time is its fork's). */
	for (int i = 0; i < 100; i++) {
		char *t = NULL, *path = xasprintf("/proc/%d/cmdline", (int)p);
		size_t n;
		bool ready = read_file(path, 4096, &t, &n) == 0 && n >= 5 && memcmp(t, "sleep", 5) == 0;
		free(t);
		free(path);
		if (ready)
			break;
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	return p;
}

static bool gone(pid_t p)
{
	int st;
	for (int i = 0; i < 300; i++) {
		if (waitpid(p, &st, WNOHANG) == p)
			return true;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

static void test_kill(void)
{
	t_case = "ferry kill of a lost job: its processes, never a reused pid";
	char jobs[64];
	snprintf(jobs, sizeof(jobs), "/tmp/ferry-lost-XXXXXX");
	CHECK(mkdtemp(jobs) != NULL);
	uint32_t id = 0;
	CHECK(job_alloc(jobs, &id) == 0);
	pid_t p = sleeper();
	char *argv[] = { "sleep", "300", NULL };
	struct job j = { .id = id, .state = JOB_RUNNING, .pid = p, .exit_code = -1, .sup_pid = 0x3ffffff,
			 .sup_start = 1 };
	j.argc = 2;
	j.argv = argv;
	j.boot_id = boot_id();
	j.name = j.root = j.cwd = j.snapshot = j.tree = j.git_commit = j.reason = j.backend = "";
	/* The record names the pid with another start time: a process that
	 * got the pid later.  Nothing is signalled. */
	j.pid_start = proc_start_time(p) + 1;
	CHECK(job_save(jobs, &j) == 0);
	struct job l;
	CHECK(job_load(jobs, id, &l) == 0 && l.state == JOB_LOST);
	job_count_procs(&l);
	CHECK(l.procs_known == 1 && l.procs_left == 0);
	CHECK(job_backend_local.send_signal(jobs, &l, SIGKILL, 0) == -ESRCH);
	job_release(&l);
	int st;
	struct timespec ts = { 0, 200000000 };
	nanosleep(&ts, NULL);
	CHECK(waitpid(p, &st, WNOHANG) == 0);	/* still running */
	/* Its own start time: it is the job's, and TERM ends it; the
	 * record then says killed, with no exit status. */
	j.pid_start = proc_start_time(p);
	CHECK(job_save(jobs, &j) == 0);
	CHECK(job_load(jobs, id, &l) == 0 && l.state == JOB_LOST);
	job_count_procs(&l);
	CHECK(l.procs_left == 1);
	CHECK(job_backend_local.send_signal(jobs, &l, SIGTERM, 2000) == 0);
	job_release(&l);
	CHECK(gone(p));
	bool killed = false;
	for (int i = 0; i < 300 && !killed; i++) {
		if (job_load(jobs, id, &l) == 0) {
			killed = l.state == JOB_KILLED;
			if (killed)
				CHECK(l.killed == 1 && l.exit_code == -1 && l.signal == 0 && l.end_ns != 0);
			job_release(&l);
		}
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	CHECK(killed);
	free(j.boot_id);
	char *cmd = xasprintf("rm -rf '%s'", jobs);
	CHECK(system(cmd) == 0);
	free(cmd);
}

void test_job_lost(void)
{
	snprintf(proc, sizeof(proc), "/tmp/ferry-proc-XXXXXX");
	CHECK(mkdtemp(proc) != NULL);
	char *d = xasprintf("%s/sys/kernel/random", proc), *cmd = xasprintf("mkdir -p '%s'", d);
	CHECK(system(cmd) == 0);
	char *f = xasprintf("%s/boot_id", d);
	CHECK(job_put_file(f, "boot-a\n", 7) == 0);
	test_supervisor_alive();
	test_procs();
	test_record();
	test_kill();
	free(cmd);
	cmd = xasprintf("rm -rf '%s'", proc);
	CHECK(system(cmd) == 0);
	free(cmd);
	free(f);
	free(d);
}
