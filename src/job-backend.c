/*
 * job-backend.c - the backends (job-backend.h) and the local one's
 * signal path: a JOB_CTL_KILL frame on the supervisor's control socket,
 * answered by JOB_CTL_OK once the signal went out; for a lost job (its
 * supervisor gone, its processes maybe not), the signals from here.
 */
#define _GNU_SOURCE
#include "job-backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "job-sup.h"
#include "limits.h"
#include "proto.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

int job_ctl_connect(const char *jobs, uint32_t id)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char *dir = job_dir(jobs, id);
	int n = snprintf(a.sun_path, sizeof(a.sun_path), "%s/ctl", dir);
	free(dir);
	if (n < 0 || (size_t)n >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* ---- lost jobs ---- */

/* sig to one process, if it is still the one that started at start.
 * With a pidfd the check is made on the open fd's process, so the signal
 * cannot reach another one that got the pid in between.  0 or -errno. */
static int signal_one(pid_t pid, uint64_t start, int sig)
{
	int fd = -1, r;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	if (!job_proc_alive("/proc", pid, start)) {
		if (fd >= 0)
			close(fd);
		return -ESRCH;
	}
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
	if (fd >= 0) {
		r = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? -errno : 0;
		close(fd);
		/* ENOSYS, or EPERM from a seccomp filter that knows only
		 * pidfd_open: kill() below, checked by start time as
		 * without a pidfd (a real EPERM is kill's too). */
		if (r != -ENOSYS && r != -EPERM)
			return r;
	}
#endif
	r = kill(pid, sig) < 0 ? -errno : 0;
	return r;
}

/* sig to every process of the lost job j: its process group at once
 * (when some of them are still in it, the group id cannot be anyone
 * else's), then each one found, checked by start time.  The number found
 * (0: none left). */
static size_t signal_lost(const struct job *j, int sig)
{
	pid_t *p = xcalloc(JOB_TREE_MAX, sizeof(*p));
	uint64_t *st = xcalloc(JOB_TREE_MAX, sizeof(*st));
	bool group;
	size_t n = job_procs_in("/proc", j, p, st, JOB_TREE_MAX, &group);
	if (n && group)
		(void)kill(-j->pid, sig);
	for (size_t i = 0; i < n; i++)
		(void)signal_one(p[i], st[i], sig);
	free(p);
	free(st);
	return n;
}

static void nap(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	(void)nanosleep(&ts, NULL);
}

/* What the supervisor would have done after the first signal: KILL
 * after the grace period for whatever is left, then the record says
 * killed once nothing is (never an exit status: no one saw one). */
static void finish_lost(const char *jobs, const struct job *j, int sig, uint32_t grace_ms)
{
	uint64_t until = now_mono_ns() + (uint64_t)grace_ms * 1000000u;
	size_t left = 1;
	if (sig != SIGKILL) {
		while (now_mono_ns() < until && (left = signal_lost(j, 0)) > 0)
			nap(JOB_LOST_POLL_MS);
		if (left)
			left = signal_lost(j, SIGKILL);
	}
	/* KILL every round: a child forked meanwhile is found next time. */
	until = now_mono_ns() + (uint64_t)JOB_LOST_KILL_WAIT_MS * 1000000u;
	while (left && now_mono_ns() < until) {
		nap(JOB_LOST_POLL_MS);
		left = signal_lost(j, SIGKILL);
	}
	if (left)
		return;		/* still shown as lost, with what is left */
	int lock = job_lock(jobs);
	struct job now;
	if (job_load_raw(jobs, j->id, &now) == 0) {
		if (now.state == JOB_RUNNING && !job_supervisor_alive(&now)) {
			char *dir = job_dir(jobs, j->id);
			now.state = JOB_KILLED;
			now.killed = 1;
			now.exit_code = -1;
			now.signal = 0;
			now.end_ns = now_wall_ns();
			now.log_bytes = job_log_size(dir);
			free(now.reason);
			now.reason = xstrdup("its supervisor was gone; ferry stopped the processes left");
			(void)job_save(jobs, &now);
			free(dir);
		}
		job_release(&now);
	}
	if (lock >= 0)
		close(lock);
}

int job_kill_lost(const char *jobs, const struct job *j, int sig, uint32_t grace_ms)
{
	if (signal_lost(j, sig) == 0)
		return -ESRCH;
	/* The grace period and the record are kept by a process of their
	 * own (the agent answers its client, or goes on serving top):
	 * double-forked away from the agent, as a supervisor is. */
	pid_t a = fork();
	if (a < 0)
		return 0;	/* the signal went out; KILL will not follow */
	if (a == 0) {
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		sig_default_all();
		job_detach_fds(-1, true);
		finish_lost(jobs, j, sig, grace_ms ? grace_ms : JOB_KILL_GRACE_MS);
		_exit(0);
	}
	(void)waitpid(a, NULL, 0);
	return 0;
}

static int local_signal(const char *jobs, const struct job *j, int sig, uint32_t grace_ms)
{
	if (j->state == JOB_LOST)
		return job_kill_lost(jobs, j, sig, grace_ms);
	int fd = job_ctl_connect(jobs, j->id);
	if (fd < 0)
		return fd;
	struct buf b;
	struct conn sc;
	uint16_t type;
	struct rd rb;
	buf_init(&b, 16);
	buf_put_u32(&b, signal_to_wire(sig));
	buf_put_u32(&b, grace_ms);
	conn_init(&sc, fd, fd);
	int r = conn_send(&sc, MSG_JOB_CTL_KILL, b.data, b.len) < 0 || conn_read(&sc, &type, &rb) <= 0 ||
		type != MSG_JOB_CTL_OK ? -EIO : 0;
	conn_release(&sc);
	buf_release(&b);
	close(fd);
	return r;
}

const struct job_backend job_backend_local = {
	.name = "local",
	.launch = job_launch,
	.alive = job_supervisor_alive,
	.send_signal = local_signal,
};

static const struct job_backend *const backends[] = { &job_backend_local };

const struct job_backend *job_backend_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}
