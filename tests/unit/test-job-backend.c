/*
 * test-job-backend.c - jobs started from their folder: `ferry agent
 * supervise DIR` run for real (record, exit status, log), the local
 * backend's launch (a job, a command that cannot be executed), liveness
 * through the backend, the queued state and its cancel, the supervisor's
 * report frames.
 *
 * Uses build/san/ferry (make builds it before the unit tests are run by
 * `make unit`; run from the repository root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "job-backend.h"
#include "job-spec.h"
#include "job-sup.h"
#include "job.h"
#include "limits.h"
#include "proto.h"
#include "t.h"
#include "util.h"

#define FERRY_BIN "build/san/ferry"

static char jobs[64];

/* A queued job in a new folder: its record and a spec running sh -c. */
static uint32_t queue_job(const char *line)
{
	uint32_t id = 0;
	CHECK(job_alloc(jobs, &id) == 0);
	struct job j = { .id = id, .state = JOB_QUEUED, .shell = 1, .exit_code = -1 };
	j.argc = 1;
	j.argv = xcalloc(2, sizeof(char *));
	j.argv[0] = xstrdup(line);
	j.root = xstrdup("/tmp");
	j.cwd = xstrdup("/tmp");
	j.backend = xstrdup("local");
	struct job_spec s = { .pty = 1, .rows = 30, .cols = 100 };
	char *argv[] = { "/bin/sh", "-c", (char *)line, NULL }, *env[] = { "PATH=/usr/bin:/bin", "K=v", NULL };
	s.argv = xcalloc(4, sizeof(char *));
	for (s.argc = 0; argv[s.argc]; s.argc++)
		s.argv[s.argc] = xstrdup(argv[s.argc]);
	s.env = xcalloc(3, sizeof(char *));
	for (s.envc = 0; env[s.envc]; s.envc++)
		s.env[s.envc] = xstrdup(env[s.envc]);
	s.cwd = xstrdup("/tmp");
	s.code_id = xstrdup("");
	s.env_id = xstrdup("plain");
	char *dir = job_dir(jobs, id);
	CHECK(job_spec_save(dir, &s) == 0);
	CHECK(job_save(jobs, &j) == 0);
	free(dir);
	job_spec_release(&s);
	job_release(&j);
	return id;
}

/* `ferry agent supervise DIR`, waited for: its exit status. */
static int run_supervise(uint32_t id)
{
	char *dir = job_dir(jobs, id);
	pid_t p = fork();
	if (p == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);	/* the refusal's message */
		execl(FERRY_BIN, "ferry", "agent", "supervise", dir, (char *)NULL);
		_exit(99);
	}
	int st = -1;
	waitpid(p, &st, 0);
	free(dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *read_log(uint32_t id)
{
	char *dir = job_dir(jobs, id), *path = xasprintf("%s/log", dir), *t = NULL;
	size_t n;
	if (read_file(path, 1 << 20, &t, &n) < 0)
		t = xstrdup("");
	free(dir);
	free(path);
	return t;
}

static void test_supervise_exec(void)
{
	t_case = "ferry agent supervise DIR";
	if (access(FERRY_BIN, X_OK) < 0) {
		CHECK(!"build/san/ferry is built");
		return;
	}
	uint32_t id = queue_job("echo out-$K; exit 3");
	CHECK(run_supervise(id) == 3);
	struct job j;
	CHECK(job_load(jobs, id, &j) == 0);
	CHECK(j.state == JOB_FAILED && j.exit_code == 3 && j.signal == 0 && j.pid > 0 && j.end_ns >= j.start_ns);
	CHECK_STR(j.backend, "local");
	job_release(&j);
	char *log = read_log(id);
	CHECK(strstr(log, "out-v") != NULL);
	free(log);
	/* Started once: the same folder again is refused, the record kept. */
	CHECK(run_supervise(id) == 1);
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_FAILED);
	job_release(&j);
	/* Killed by a signal: 128 + N, recorded as failed by that signal. */
	id = queue_job("kill -TERM $$");
	CHECK(run_supervise(id) == 128 + 15);
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_FAILED && j.signal == 15);
	job_release(&j);
}

/* Waits (at most 10 s) for job id to end. */
static int wait_end(uint32_t id, struct job *j)
{
	for (int i = 0; i < 1000; i++) {
		if (job_load(jobs, id, j) == 0) {
			if (job_ended(j->state))
				return 0;
			job_release(j);
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void test_launch(void)
{
	t_case = "local backend: launch";
	uint32_t id = queue_job("echo launched; exit 0");
	struct job j;
	char *why = NULL, *warn = NULL;
	CHECK(job_load_raw(jobs, id, &j) == 0);
	CHECK(job_backend_local.launch(jobs, &j, &why, &warn) == 0 && why == NULL);
	free(warn);
	job_release(&j);
	CHECK(wait_end(id, &j) == 0 && j.state == JOB_EXITED && j.exit_code == 0);
	job_release(&j);
	char *log = read_log(id);
	CHECK(strstr(log, "launched") != NULL);
	free(log);
	/* A command that cannot be executed: 127, and why. */
	id = queue_job("x");
	char *dir = job_dir(jobs, id);
	struct job_spec s;
	CHECK(job_spec_load(dir, &s) == 0);
	free(s.argv[0]);
	s.argv[0] = xstrdup("/nonexistent/ferry-test-cmd");
	CHECK(job_spec_save(dir, &s) == 0);
	job_spec_release(&s);
	free(dir);
	CHECK(job_load_raw(jobs, id, &j) == 0);
	CHECK(job_backend_local.launch(jobs, &j, &why, &warn) == 127);
	CHECK(why && strstr(why, "No such file") != NULL);
	free(why);
	free(warn);
	job_release(&j);
	CHECK(wait_end(id, &j) == 0 && j.state == JOB_FAILED && j.exit_code == 127);
	job_release(&j);
	/* A folder with no spec: nothing starts, the supervisor says why. */
	uint32_t bare;
	CHECK(job_alloc(jobs, &bare) == 0);
	struct job k = { .id = bare };
	CHECK(job_backend_local.launch(jobs, &k, &why, NULL) == -EIO);
	CHECK(why && strstr(why, "cannot read job") != NULL);
	free(why);
}

static void test_queued(void)
{
	t_case = "queued: listed as it is, cancelled by kill";
	uint32_t id = queue_job("echo never");
	struct job j;
	/* Queued is not running: no supervisor is asked about, none lost. */
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_QUEUED);
	CHECK_STR(job_state_name(j.state), "queued");
	CHECK(!job_ended(j.state));
	job_release(&j);
	char *dir = job_dir(jobs, id), *st = xasprintf("%s/state", dir), *t = NULL;
	size_t n;
	CHECK(read_file(st, 64, &t, &n) == 0 && strcmp(t, "queued\n") == 0);
	free(t);
	CHECK(job_cancel(jobs, id, &j) == 0);
	CHECK(j.state == JOB_KILLED && j.killed == 1 && j.end_ns > 0);
	CHECK_STR(j.reason, "cancelled before it started");
	job_release(&j);
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_KILLED);
	job_release(&j);
	/* Not queued any more: a second cancel, and a start, are refused. */
	CHECK(job_cancel(jobs, id, &j) == -ESRCH);
	CHECK(run_supervise(id) == 1);
	char *log = read_log(id);
	CHECK(strstr(log, "never") == NULL);
	free(log);
	free(st);
	free(dir);
}

static void test_alive(void)
{
	t_case = "liveness through the backend";
	CHECK(job_backend_find("local") == &job_backend_local);
	CHECK(job_backend_find("slurm") == NULL);
	uint32_t id = queue_job("true");
	struct job j;
	CHECK(job_load_raw(jobs, id, &j) == 0);
	/* Running, its supervisor a pid that is not there: lost. */
	j.state = JOB_RUNNING;
	j.sup_pid = 0x3ffffff;
	CHECK(job_save(jobs, &j) == 0);
	job_release(&j);
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_LOST);
	/* The same under a backend this binary does not have: shown as
	 * recorded, never declared lost by the local test. */
	free(j.backend);
	j.backend = xstrdup("elsewhere");
	j.state = JOB_RUNNING;
	CHECK(job_save(jobs, &j) == 0);
	job_release(&j);
	CHECK(job_load(jobs, id, &j) == 0 && j.state == JOB_RUNNING);
	CHECK_STR(j.backend, "elsewhere");
	job_release(&j);
}

static void test_report(void)
{
	t_case = "supervisor report frames";
	struct job_report rp = { 0 };
	struct rd r;
	struct buf b;
	buf_init(&b, 1024);
	buf_put_cstr(&b, "logind kills");
	rd_init(&r, b.data, b.len);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_WARN, &r) == 0);
	CHECK_STR(rp.warning, "logind kills");
	rd_init(&r, NULL, 0);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_RUNNING, &r) == 1 && rp.running);
	job_report_release(&rp);
	buf_reset(&b);
	buf_put_u32(&b, ENOENT);
	rd_init(&r, b.data, b.len);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_NOEXEC, &r) == 1 && rp.noexec == ENOENT);
	/* errno 0, a trailing byte, a body on RUNNING, an unknown type. */
	buf_reset(&b);
	buf_put_u32(&b, 0);
	rd_init(&r, b.data, b.len);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_NOEXEC, &r) < 0);
	buf_put_u8(&b, 1);
	rd_init(&r, b.data, b.len);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_RUNNING, &r) < 0);
	rd_init(&r, NULL, 0);
	CHECK(job_report_frame(&rp, MSG_JOB_CTL_OK, &r) < 0);
	buf_reset(&b);
	buf_put_cstr(&b, "no pty");
	rd_init(&r, b.data, b.len);
	CHECK(job_report_frame(&rp, MSG_JOB_SUP_ERROR, &r) == 1);
	CHECK_STR(rp.error, "no pty");
	job_report_release(&rp);
	buf_release(&b);
}

static void rm_tree(const char *d)
{
	char *cmd = xasprintf("rm -rf '%s'", d);
	CHECK(system(cmd) == 0);
	free(cmd);
}

void test_job_backend(void)
{
	snprintf(jobs, sizeof(jobs), "/tmp/ferry-jobs-XXXXXX");
	CHECK(mkdtemp(jobs) != NULL);
	test_report();
	test_queued();
	test_alive();
	test_supervise_exec();
	test_launch();
	rm_tree(jobs);
}
