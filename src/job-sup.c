/*
 * job-sup.c - the supervisor: the process that owns a running job.
 *
 * It needs nothing but the job's folder: the spec says what to run, the
 * record (which must say queued: a job starts once) what the job is
 * (job_supervise, `ferry agent supervise DIR`).  The local backend's
 * job_launch() double-forks it away from the agent (own session, no
 * controlling terminal, no fd of the ssh connection), so nothing that
 * happens to the connection reaches the job, and reads its report
 * frames (MSG_JOB_SUP_*) until the job runs.  The supervisor owns a pty,
 * runs the command on its slave side as a session leader, appends every
 * byte of output to the job's log, serves viewers on a control socket
 * (attach: output, input, resize; kill), sums the memory of the job's
 * process tree, and writes the record when the command ends.  It is a
 * child subreaper, so processes the job leaves behind stay in its tree
 * (for memory and for kill) instead of escaping to init.
 *
 * The control socket speaks ferry's frames (proto.h); only the owner's
 * uid may connect (SO_PEERCRED).
 */
#define _GNU_SOURCE
#include "job-sup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "job-harvest.h"
#include "job-spec.h"
#include "limits.h"
#include "mon-proc.h"
#include "mon.h"
#include "proto.h"
#include "sig.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

struct viewer {
	struct conn c;
	bool attached;		/* gets output */
};

struct sup {
	const char *jobs;
	struct job *j;
	int dirfd;
	int master;		/* pty master, -1 once it hung up */
	int lsock;		/* control socket */
	char *sock_path;
	struct job_log_writer log;
	struct viewer *v[JOB_VIEWERS_MAX];
	pid_t pid;		/* the command */
	bool exited;
	int status;
	uint64_t next_sample, kill_at;
	struct buf in;		/* input for the pty not yet written */
	uint64_t saved_peak;	/* peak_rss in the record on disk */
	bool stopping;		/* a guard is stopping the job */
	struct harvest h;	/* outputs leave the snapshot */
};

static void signal_job(struct sup *s, int sig);

static char *human(uint64_t b)
{
	if (b >= 1024ull * 1024 * 1024)
		return xasprintf("%.1f GiB", (double)b / (1024.0 * 1024 * 1024));
	return xasprintf("%.0f MiB", (double)b / (1024.0 * 1024));
}

/* A guard stops the job: TERM to the tree now, KILL after the grace
 * period; the record says why. */
static void stop_for(struct sup *s, char *reason)
{
	free(s->j->reason);
	s->j->reason = reason;
	s->j->killed = 1;
	s->stopping = true;
	(void)job_save(s->jobs, s->j);
	char *line = xasprintf("\r\n[ferry: stopping the job: %s]\r\n", reason);
	(void)job_log_write(&s->log, line, strlen(line));
	free(line);
	signal_job(s, SIGTERM);
	s->kill_at = now_mono_ns() + (uint64_t)JOB_KILL_GRACE_MS * 1000000u;
}

/* Is this job the user's largest running one (by the `rss` each guarded
 * supervisor writes)?  Ties go to the lower id. */
static bool largest_job(const struct sup *s, uint64_t mine)
{
	size_t n;
	uint32_t *ids = job_ids(s->jobs, &n);
	bool largest = true;
	for (size_t i = 0; i < n && largest; i++) {
		if (ids[i] == s->j->id)
			continue;
		char *d = job_dir(s->jobs, ids[i]), *f = xasprintf("%s/rss", d), *st = xasprintf("%s/state", d);
		char *t = NULL, *u = NULL;
		size_t len;
		if (read_file(st, 64, &u, &len) == 0 && strncmp(u, "running", 7) == 0 &&
		    read_file(f, 64, &t, &len) == 0) {
			char *end;
			errno = 0;
			unsigned long long other = strtoull(t, &end, 10);
			bool ok = end != t && (*end == '\n' || *end == '\0') && errno == 0;
			if (ok && (other > mine || (other == mine && ids[i] < s->j->id)))
				largest = false;
		}
		free(t);
		free(u);
		free(d);
		free(f);
		free(st);
	}
	free(ids);
	return largest;
}

/* The memory guards, after each sample of the tree's resident memory. */
static void guard_memory(struct sup *s, uint64_t rss)
{
	struct job *j = s->j;
	if (s->stopping || s->exited)
		return;
	if (j->max_mem && rss > j->max_mem) {
		char *a = human(rss), *b = human(j->max_mem);
		stop_for(s, xasprintf("memory limit: its processes used %s, over --max-mem %s", a, b));
		free(a);
		free(b);
		return;
	}
	if (!j->min_avail)
		return;
	char *d = job_dir(s->jobs, j->id), *f = xasprintf("%s/rss", d), num[24];
	int l = snprintf(num, sizeof(num), "%llu\n", (unsigned long long)rss);
	int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		(void)write_all(fd, num, (size_t)l);
		close(fd);
	}
	free(d);
	free(f);
	char *t;
	size_t n;
	struct mp_mem m;
	if (read_file("/proc/meminfo", MON_PROC_FILE_MAX, &t, &n) < 0)
		return;
	int r = mp_meminfo(t, n, &m);
	free(t);
	if (r < 0 || m.avail == MON_NA64 || m.avail >= j->min_avail || !largest_job(s, rss))
		return;
	char *a = human(m.avail), *b = human(j->min_avail), *c = human(rss);
	stop_for(s, xasprintf("host memory guard: %s available on the server, under guard.min_available %s; "
			      "this was your largest job (%s)", a, b, c));
	free(a);
	free(b);
	free(c);
}

/* ---- the process tree ---- */

/* Children of pid, from /proc/PID/task/TID/children (every thread). */
static size_t children_of(pid_t pid, pid_t *out, size_t max)
{
	char path[64];
	size_t n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char cp[320], buf[4096];
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		int fd = open(cp, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t k = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (k <= 0)
			continue;
		buf[k] = '\0';
		for (char *p = buf; *p && n < max;) {
			char *end;
			long c = strtol(p, &end, 10);
			if (end == p)
				break;
			if (c > 0)
				out[n++] = (pid_t)c;
			p = end;
			while (*p == ' ')
				p++;
		}
	}
	closedir(d);
	return n;
}

/* Every process of the job: the supervisor's descendants (it is a
 * subreaper, so orphans come back to it).  Breadth first, bounded. */
static size_t job_tree(pid_t *out, size_t max)
{
	size_t n = children_of(getpid(), out, max);
	for (size_t i = 0; i < n && n < max; i++)
		n += children_of(out[i], out + n, max - n);
	return n;
}

static uint64_t rss_of(pid_t pid)
{
	char path[64], buf[256];
	uint64_t pages;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t k = read(fd, buf, sizeof(buf));
	close(fd);
	/* Gone meanwhile, or odd: a missing figure, not a fatal one. */
	if (k <= 0 || mp_pid_statm(buf, (size_t)k, &pages) < 0)
		return 0;
	return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void sample_memory(struct sup *s)
{
	pid_t t[JOB_TREE_MAX];
	size_t n = job_tree(t, JOB_TREE_MAX);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += rss_of(t[i]);
	if (sum > s->j->peak_rss)
		s->j->peak_rss = sum;
	guard_memory(s, sum);
	/* `ferry jobs` shows the peak while the job runs: the record is
	 * rewritten when it grew by a tenth. */
	if (s->j->peak_rss > s->saved_peak + s->saved_peak / 10) {
		s->saved_peak = s->j->peak_rss;
		(void)job_save(s->jobs, s->j);
	}
}

/* Signals the whole job: its process group and every process of its tree
 * (some may have left the group or the session). */
static void signal_job(struct sup *s, int sig)
{
	pid_t t[JOB_TREE_MAX];
	if (s->pid > 0 && !s->exited)
		kill(-s->pid, sig);
	size_t n = job_tree(t, JOB_TREE_MAX);
	for (size_t i = 0; i < n; i++)
		kill(t[i], sig);
}

/* ---- viewers ---- */

static void drop_viewer(struct sup *s, int i)
{
	conn_release(&s->v[i]->c);
	close(s->v[i]->c.rfd);
	free(s->v[i]);
	s->v[i] = NULL;
}

static void broadcast(struct sup *s, uint16_t type, const void *p, size_t n)
{
	for (int i = 0; i < JOB_VIEWERS_MAX; i++) {
		struct viewer *v = s->v[i];
		if (v == NULL || !v->attached)
			continue;
		conn_queue(&v->c, type, p, n);
		(void)conn_flush_some(&v->c);
		if (v->c.out.len > JOB_VIEWER_BUF)
			drop_viewer(s, i);	/* too slow: it can attach again */
	}
}

static void set_winsize(struct sup *s, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	if (s->master >= 0 && rows && cols)
		(void)ioctl(s->master, TIOCSWINSZ, &ws);
}

/* The last JOB_ATTACH_REPLAY bytes of output, so a viewer sees where the
 * job is; or, for a viewer coming back that saw the log up to offset
 * from, what came since (if that is no more). */
static void replay(struct sup *s, struct viewer *v, uint64_t from)
{
	struct job_log l;
	char *dir = job_dir(s->jobs, s->j->id);
	uint8_t b[FRAME_CHUNK];
	if (job_log_open(&l, dir, JOB_ATTACH_REPLAY) == 0) {
		ssize_t n;
		if (from <= s->log.total && s->log.total - from <= JOB_ATTACH_REPLAY)
			job_log_seek(&l, from);
		while ((n = job_log_read(&l, b, sizeof(b))) > 0)
			conn_queue(&v->c, MSG_JOB_OUTPUT, b, (size_t)n);
		job_log_close(&l);
	}
	free(dir);
}

static void write_input(struct sup *s)
{
	while (s->in.len && s->master >= 0) {
		ssize_t w = write(s->master, s->in.data, s->in.len);
		if (w <= 0)
			break;
		buf_consume(&s->in, (size_t)w);
	}
}

/* One frame from a viewer; -1 drops it. */
static int on_viewer_frame(struct sup *s, struct viewer *v, uint16_t type, struct rd *body)
{
	switch (type) {
	case MSG_JOB_CTL_ATTACH: {
		uint16_t rows = rd_u16(body), cols = rd_u16(body);
		/* Since JOB_LOG_AT: the offset the viewer saw up to. */
		bool at = rd_left(body) > 0;
		uint64_t from = at ? rd_u64(body) : UINT64_MAX;
		rd_expect_end(body);
		if (!rd_ok(body))
			return -1;
		v->attached = true;
		replay(s, v, from);
		if (at) {
			/* Where live output starts: no byte of it went out
			 * before, none is read from the log twice. */
			uint8_t b[8];
			for (int i = 0; i < 8; i++)
				b[i] = (uint8_t)(s->log.total >> (56 - 8 * i));
			conn_queue(&v->c, MSG_JOB_LOG_AT, b, sizeof(b));
		}
		/* The newest viewer's size wins; programs redraw on the
		 * SIGWINCH the kernel sends. */
		set_winsize(s, rows, cols);
		return 0;
	}
	case MSG_JOB_INPUT: {
		size_t n = rd_left(body);
		if (s->in.len + n > JOB_VIEWER_BUF)
			return 0;	/* the job does not read: input is dropped */
		buf_put(&s->in, rd_bytes(body, n), n);
		write_input(s);
		return 0;
	}
	case MSG_JOB_RESIZE: {
		uint16_t rows = rd_u16(body), cols = rd_u16(body);
		rd_expect_end(body);
		if (!rd_ok(body))
			return -1;
		set_winsize(s, rows, cols);
		return 0;
	}
	case MSG_JOB_CTL_KILL: {
		uint32_t w = rd_u32(body), grace = rd_u32(body);
		rd_expect_end(body);
		int sig = wire_to_signal(w);
		if (!rd_ok(body) || sig < 0)
			return -1;
		s->j->killed = 1;
		signal_job(s, sig);
		if (sig != SIGKILL)
			s->kill_at = now_mono_ns() + (uint64_t)(grace ? grace : JOB_KILL_GRACE_MS) * 1000000u;
		conn_queue(&v->c, MSG_JOB_CTL_OK, NULL, 0);
		return 0;
	}
	default:
		return -1;
	}
}

static void on_viewer(struct sup *s, int i, short revents)
{
	struct viewer *v = s->v[i];
	if (revents & POLLOUT && conn_flush_some(&v->c) < 0) {
		drop_viewer(s, i);
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	int r = conn_fill(&v->c);
	uint16_t type;
	struct rd body;
	int fr;
	while ((fr = conn_next(&v->c, &type, &body)) == 1)
		if (on_viewer_frame(s, v, type, &body) < 0) {
			drop_viewer(s, i);
			return;
		}
	if (fr < 0 || r == 0 || (r < 0 && r != -EAGAIN))
		drop_viewer(s, i);
	else
		(void)conn_flush_some(&v->c);
}

static void accept_viewer(struct sup *s)
{
	int fd = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != getuid()) {
		close(fd);
		return;
	}
	for (int i = 0; i < JOB_VIEWERS_MAX; i++) {
		if (s->v[i] == NULL) {
			s->v[i] = xcalloc(1, sizeof(struct viewer));
			conn_init(&s->v[i]->c, fd, fd);
			return;
		}
	}
	close(fd);	/* full */
}

/* ---- the end ---- */

static void read_master(struct sup *s)
{
	uint8_t b[FRAME_CHUNK];
	ssize_t n = read(s->master, b, sizeof(b));
	if (n > 0) {
		(void)job_log_write(&s->log, b, (size_t)n);
		broadcast(s, MSG_JOB_OUTPUT, b, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* EIO: every slave fd is closed. */
		close(s->master);
		s->master = -1;
	}
}

static void finish(struct sup *s)
{
	struct job *j = s->j;
	struct buf b;
	struct rusage ru;

	/* What the command wrote just before it ended is still in the pty. */
	while (s->master >= 0) {
		struct pollfd p = { .fd = s->master, .events = POLLIN };
		if (poll(&p, 1, 0) <= 0)
			break;
		read_master(s);
	}
	/* What the job left in its snapshot goes to the live project
	 * before anyone hears that it ended. */
	harvest_finish(&s->h);
	if (s->h.nkept) {
		char *list = xstrdup("");
		for (size_t i = 0; i < s->h.nkept; i++) {
			char *l = xasprintf("%s\r\n  %s", list, s->h.kept[i]);
			free(list);
			list = l;
		}
		char *m = xasprintf("\r\n[ferry: left in the code snapshot %s, because the project folder has "
				    "something else at the same path:%s]\r\n", j->cwd, list);
		(void)job_log_write(&s->log, m, strlen(m));
		broadcast(s, MSG_JOB_OUTPUT, m, strlen(m));
		free(m);
		free(list);
	}
	harvest_release(&s->h);
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0 && (uint64_t)ru.ru_maxrss * 1024 > j->peak_rss)
		j->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
	j->end_ns = now_wall_ns();
	j->log_bytes = s->log.total;
	if (WIFSIGNALED(s->status)) {
		j->signal = WTERMSIG(s->status);
		j->exit_code = -1;
	} else {
		j->exit_code = WEXITSTATUS(s->status);
	}
	j->state = j->killed ? JOB_KILLED : (j->signal == 0 && j->exit_code == 0) ? JOB_EXITED : JOB_FAILED;
	(void)job_save(s->jobs, j);
	buf_init(&b, 64);
	job_done_encode(j, &b);
	broadcast(s, MSG_JOB_DONE, b.data, b.len);
	buf_release(&b);
	/* Give viewers a moment to take the last output and the end. */
	uint64_t until = now_mono_ns() + 500000000u;
	for (int i = 0; i < JOB_VIEWERS_MAX; i++) {
		while (s->v[i] && s->v[i]->c.out.len && now_mono_ns() < until) {
			struct pollfd p = { .fd = s->v[i]->c.wfd, .events = POLLOUT };
			if (poll(&p, 1, 100) <= 0 || conn_flush_some(&s->v[i]->c) < 0)
				break;
		}
		if (s->v[i])
			drop_viewer(s, i);
	}
	unlink(s->sock_path);
}

/* Reaps every child (orphans of the job come back to a subreaper). */
static void reap(struct sup *s)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == s->pid) {
			s->exited = true;
			s->status = st;
		}
	}
}

static void loop(struct sup *s)
{
	sample_memory(s);
	s->next_sample = now_mono_ns() + JOB_PEAK_SAMPLE_MS * 1000000ull;
	for (;;) {
		struct pollfd p[4 + JOB_VIEWERS_MAX];
		int vi[JOB_VIEWERS_MAX], np = 0;
		reap(s);
		if (s->exited)
			break;
		p[np++] = (struct pollfd){ .fd = sig_fd(), .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->lsock, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = s->master, .events = (short)(POLLIN | (s->in.len ? POLLOUT : 0)) };
		p[np++] = (struct pollfd){ .fd = harvest_fd(&s->h), .events = POLLIN };
		for (int i = 0; i < JOB_VIEWERS_MAX; i++) {
			vi[i] = -1;
			if (s->v[i] == NULL)
				continue;
			vi[i] = np;
			p[np++] = (struct pollfd){ .fd = s->v[i]->c.rfd,
						   .events = (short)(POLLIN | (s->v[i]->c.out.len ? POLLOUT : 0)) };
		}
		uint64_t now = now_mono_ns(), wake = s->next_sample, due = harvest_due(&s->h);
		if (s->kill_at && s->kill_at < wake)
			wake = s->kill_at;
		if (due && due < wake)
			wake = due;
		int timeout = wake > now ? (int)((wake - now) / 1000000u) + 1 : 0;
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
			break;
		now = now_mono_ns();
		if (now >= s->next_sample) {
			sample_memory(s);
			s->next_sample = now + JOB_PEAK_SAMPLE_MS * 1000000ull;
		}
		if (s->kill_at && now >= s->kill_at) {
			signal_job(s, SIGKILL);
			s->kill_at = 0;
		}
		if (p[0].revents) {
			sig_drain();
			sig_take(SIGCHLD);
		}
		if (p[2].revents & POLLOUT)
			write_input(s);
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			read_master(s);
		if (p[3].revents)
			harvest_events(&s->h);
		if (harvest_due(&s->h) && harvest_due(&s->h) <= now_mono_ns())
			harvest_tick(&s->h);
		if (p[1].revents)
			accept_viewer(s);
		for (int i = 0; i < JOB_VIEWERS_MAX; i++)
			if (vi[i] >= 0 && s->v[i] && p[vi[i]].revents)
				on_viewer(s, i, p[vi[i]].revents);
	}
	finish(s);
}

/* ---- starting ---- */

static int listen_ctl(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* In the job's process: a session of its own with the pty slave as its
 * controlling terminal and std fds, then the command.  Never returns. */
static void exec_job(const char *slave, const struct job_spec *sp, int errfd)
{
	int e;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sig_default_all();
	if (setsid() < 0)
		goto fail;
	int fd = open(slave, O_RDWR);
	if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
		goto fail;
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		goto fail;
	if (fd > 2)
		close(fd);
	if (chdir(sp->cwd) < 0)
		goto fail;
	e = -exec_search(sp->argv, sp->env);
	(void)!write(errfd, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);	/* as a shell says it, and as `ferry run` does */
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(126);
}

/* (job-sup.h) The agent's stdin and stdout are the ssh connection,
 * which must be free to close. */
void job_detach_fds(int keep, bool std)
{
	int null = std ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
	for (int fd = 0; fd < 3; fd++)
		if (null >= 0 && fd != keep)
			dup2(null, fd);
	DIR *d = opendir("/proc/self/fd");
	int dfd = d ? dirfd(d) : -1;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char *end;
		errno = 0;
		long fd = strtol(de->d_name, &end, 10);
		if (end == de->d_name || *end != '\0' || errno || fd > INT32_MAX)
			continue;	/* "." and ".." */
		/* Not the lock on our executable: this agent version
		 * stays in use while the job runs. */
		if (fd > 2 && fd != keep && fd != dfd && fd != exe_held_fd())
			close((int)fd);
	}
	if (d)
		closedir(d);
}

/* A frame to the launcher on the report pipe. */
static void report_frame(int fd, uint16_t type, const struct buf *b)
{
	struct conn c;
	conn_init(&c, -1, fd);
	(void)conn_send(&c, type, b->data, b->len);
	conn_release(&c);
}

/* A warning or an error for the launcher; started from the spec alone
 * (`ferry agent supervise DIR`) there is no pipe, and it goes to stderr. */
static void report(int fd, uint16_t type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int fd, uint16_t type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	if (fd >= 0) {
		struct buf b;
		buf_init(&b, FRAME_MAX);
		(void)buf_put_cstr(&b, m);
		report_frame(fd, type, &b);
		buf_release(&b);
	} else {
		fprintf(stderr, "ferry: %s%s\n", type == MSG_JOB_SUP_WARN ? "warning: " : "", vis(m));
	}
	free(m);
}

/* The job runs (e 0) or its command could not be executed (errno e). */
static void report_start(int fd, int e)
{
	struct buf b;
	buf_init(&b, 8);
	if (e)
		(void)buf_put_u32(&b, (uint32_t)e);
	if (fd >= 0)
		report_frame(fd, e ? MSG_JOB_SUP_NOEXEC : MSG_JOB_SUP_RUNNING, &b);
	else if (e)
		fprintf(stderr, "ferry: cannot run the job's command: %s\n", strerror(e));
	buf_release(&b);
}

int job_report_frame(struct job_report *rp, uint16_t type, struct rd *body)
{
	switch (type) {
	case MSG_JOB_SUP_WARN: {
		char *w = rd_cstr(body, JOB_REPORT_TEXT_MAX);
		rd_expect_end(body);
		if (!rd_ok(body)) {
			free(w);
			return -1;
		}
		if (rp->warning == NULL)
			rp->warning = w;	/* the first says it; the rest would repeat */
		else
			free(w);
		return 0;
	}
	case MSG_JOB_SUP_RUNNING:
		rd_expect_end(body);
		rp->running = rd_ok(body);
		return rp->running ? 1 : -1;
	case MSG_JOB_SUP_NOEXEC: {
		uint32_t e = rd_u32(body);
		rd_expect_end(body);
		if (!rd_ok(body) || e == 0 || e >= 4096)
			return -1;
		rp->noexec = (int)e;
		return 1;
	}
	case MSG_JOB_SUP_ERROR:
		rp->error = rd_cstr(body, JOB_REPORT_TEXT_MAX);
		rd_expect_end(body);
		if (!rd_ok(body)) {
			free(rp->error);
			rp->error = NULL;
			return -1;
		}
		return 1;
	default:
		return -1;
	}
}

void job_report_release(struct job_report *rp)
{
	free(rp->error);
	free(rp->warning);
	memset(rp, 0, sizeof(*rp));
}

/* ---- systemd-logind with KillUserProcesses=yes ---- */

int logind_kill_setting(const char *text, size_t n, int current)
{
	bool in_login = false;
	const char *p = text, *end = text + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
			len--;
		if (len && p[0] == '[')
			in_login = len == 7 && memcmp(p, "[Login]", 7) == 0;
		else if (in_login && len > 18 && memcmp(p, "KillUserProcesses", 17) == 0) {
			const char *v = p + 17;
			size_t vl = len - 17;
			while (vl && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			if (vl && *v == '=') {
				v++;
				vl--;
				while (vl && (*v == ' ' || *v == '\t')) {
					v++;
					vl--;
				}
				if ((vl == 3 && strncasecmp(v, "yes", 3) == 0) || (vl == 1 && *v == '1') ||
				    (vl == 4 && strncasecmp(v, "true", 4) == 0) || (vl == 2 && strncasecmp(v, "on", 2) == 0))
					current = 1;
				else if ((vl == 2 && strncasecmp(v, "no", 2) == 0) || (vl == 1 && *v == '0') ||
					 (vl == 5 && strncasecmp(v, "false", 5) == 0) ||
					 (vl == 3 && strncasecmp(v, "off", 3) == 0))
					current = 0;
			}
		}
		p += len;
		p = nl ? nl + 1 : end;
	}
	return current;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does logind kill this user's processes when the ssh session ends?
 * logind.conf, then its drop-ins in name order; the last word wins. */
static bool logind_kills(void)
{
	static const char *const dirs[] = { "/usr/lib/systemd/logind.conf.d", "/run/systemd/logind.conf.d",
					    "/etc/systemd/logind.conf.d" };
	char *t;
	size_t n;
	int v = 0;
	if (access("/run/systemd/system", F_OK) < 0)
		return false;	/* not a systemd host */
	if (read_file("/etc/systemd/logind.conf", 1 << 20, &t, &n) == 0) {
		v = logind_kill_setting(t, n, v);
		free(t);
	}
	char **names = NULL;
	size_t nn = 0;
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL && nn < 256) {
			size_t l = strlen(de->d_name);
			if (l > 5 && strcmp(de->d_name + l - 5, ".conf") == 0) {
				names = xrealloc(names, (nn + 1) * sizeof(char *));
				names[nn++] = xasprintf("%s\n%s", de->d_name, dirs[i]);
			}
		}
		if (d)
			closedir(d);
	}
	if (nn)
		qsort(names, nn, sizeof(char *), cmp_str);
	for (size_t i = 0; i < nn; i++) {
		char *nl = strchr(names[i], '\n');
		*nl = '\0';
		char *path = xasprintf("%s/%s", nl + 1, names[i]);
		if (read_file(path, 1 << 20, &t, &n) == 0) {
			v = logind_kill_setting(t, n, v);
			free(t);
		}
		free(path);
		free(names[i]);
	}
	free(names);
	return v == 1;
}

/* Where systemd would kill us: in an ssh login's session scope. */
static bool in_session_scope(void)
{
	char *t;
	size_t n;
	if (read_file("/proc/self/cgroup", 1 << 16, &t, &n) < 0)
		return false;
	bool in = strstr(t, "/session-") != NULL && strstr(t, ".scope") != NULL;
	free(t);
	return in;
}

/* Moves this process (and so the job) into a scope of the user's own
 * systemd, which outlives the login session, the supported way
 * (StartTransientUnit with our pid, via busctl).  NULL on success, or
 * what to tell the user. */
static char *escape_session(uint32_t id)
{
	if (!in_session_scope() || !logind_kills())
		return NULL;
	char unit[64], pid[24];
	snprintf(unit, sizeof(unit), "ferry-job-%u.scope", id);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	char *argv[] = { "busctl", "--user", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
			 "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "fail",
			 "1", "PIDs", "au", "1", pid, "0", NULL };
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_NULL, .err = SPAWN_NULL };
	struct child ch;
	int st = -1;
	if (spawn(argv, &o, &ch) == 0) {
		child_close(&ch);
		if (wait_child(ch.pid, &st) < 0)
			st = -1;
	}
	char *user = getenv("USER");
	char linger[300];
	snprintf(linger, sizeof(linger), "/var/lib/systemd/linger/%s", user ? user : "");
	bool lingers = user && access(linger, F_OK) == 0;
	if (st == 0 && lingers)
		return NULL;
	if (st == 0)
		return xstrdup("this server's logind kills your processes at logout (KillUserProcesses=yes); "
			       "the job was moved to your systemd user manager, which also stops at logout "
			       "unless lingering is on: run `loginctl enable-linger` (or ask the admin)");
	return xstrdup("this server's logind kills your processes at logout (KillUserProcesses=yes) and the "
		       "job could not be moved out of the ssh session: ask the admin for "
		       "`loginctl enable-linger` for your user, or keep a session open");
}

/* The signals as a supervisor wants them, and (with a launcher) none
 * of its fds. */
static void sup_detach(int rep)
{
	/* Signal handlers the agent set write to its self-pipe, whose fds
	 * detach_fds closes: back to defaults, and a pipe of our own. */
	sig_default_all();
	if (rep >= 0) {
		job_detach_fds(rep, true);
	} else {
		/* Started from a shell or srun: no terminal's signals, and no
		 * fd of theirs reaches the job; stderr stays for our messages. */
		(void)setsid();
		job_detach_fds(-1, false);
	}
	sig_forget();
	sig_ignore(SIGPIPE);
	sig_ignore(SIGHUP);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	sig_watch(SIGCHLD);
}

/* The log, the control socket and the pty; outputs watched, logind
 * escaped.  0, or -1 once the launcher was told why not. */
static int sup_open(struct sup *s, const char *dir, const struct job_spec *sp, char **slave, int pex[2], int rep)
{
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r = s->dirfd < 0 ? -errno : job_log_writer_open(&s->log, s->dirfd);
	if (r < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot open the job's log in '%s': %s", dir, strerror(-r));
		return -1;
	}
	s->sock_path = xasprintf("%s/ctl", dir);
	s->lsock = listen_ctl(s->sock_path);
	if (s->lsock < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot create the job's control socket '%s': %s", s->sock_path,
		       strerror(-s->lsock));
		return -1;
	}
	r = pty_open(&s->master, slave);
	if (r < 0 || pipe2(pex, O_CLOEXEC) < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot open a pseudo-terminal: %s", strerror(r < 0 ? -r : errno));
		return -1;
	}
	set_winsize(s, sp->rows ? sp->rows : 24, sp->cols ? sp->cols : 80);
	/* Watching starts before the job does, so nothing it writes in its
	 * snapshot is missed; without it (no inotify), the end sweep. */
	struct job *j = s->j;
	if (j->snapshot[0] && harvest_start(&s->h, j->root, j->cwd, j->snapshot, s->dirfd) < 0 && s->h.ifd >= 0) {
		close(s->h.ifd);
		s->h.ifd = -1;
	}
	char *w = escape_session(j->id);
	if (w) {
		report(rep, MSG_JOB_SUP_WARN, "%s", w);
		free(w);
	}
	return 0;
}

/* Starts the command, under the jobs folder's lock so that a cancel of
 * the queued job and its start are one or the other, and writes the
 * record that says it runs.  0, or -1 once the launcher was told why. */
static int sup_start(struct sup *s, const struct job_spec *sp, const char *slave, int pex[2], int rep)
{
	struct job *j = s->j, now;
	int lock = job_lock(s->jobs), r = lock < 0 ? lock : job_load_raw(s->jobs, j->id, &now);
	if (r < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot read the record of job %u: %s", j->id, strerror(-r));
		goto fail;
	}
	uint8_t st = now.state;
	job_release(&now);
	if (st != JOB_QUEUED) {
		report(rep, MSG_JOB_SUP_ERROR, "job %u is %s, not queued: not started again", j->id, job_state_name(st));
		goto fail;
	}
	free(j->boot_id);
	j->sup_pid = getpid();
	j->sup_start = proc_start_time(getpid());
	j->boot_id = boot_id();
	j->start_ns = now_wall_ns();
	j->exit_code = -1;
	pid_t pid = fork();
	if (pid < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot start the job: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		exec_job(slave, sp, pex[1]);
	close(pex[1]);
	pex[1] = -1;
	s->pid = j->pid = pid;
	/* Its start time tells its session and group from a later process
	 * that gets the same pid, should this supervisor be lost. */
	j->pid_start = proc_start_time(pid);
	int e = 0;
	ssize_t got = read(pex[0], &e, sizeof(e));
	close(pex[0]);
	pex[0] = -1;
	fd_nonblock(s->master);
	j->state = JOB_RUNNING;
	if (got != (ssize_t)sizeof(e))
		e = 0;
	if (e) {
		/* It did not start: the log says why, the record too. */
		char *m = xasprintf("ferry: cannot run '%s': %s\r\n", j->argv[0], strerror(e));
		(void)job_log_write(&s->log, m, strlen(m));
		free(m);
	}
	r = job_save(s->jobs, j);
	close(lock);
	if (r < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot write the job record: %s", strerror(-r));
		signal_job(s, SIGKILL);
		return -1;
	}
	report_start(rep, e);
	return 0;
fail:
	if (lock >= 0)
		close(lock);
	return -1;
}

/* "JOBS/ID" into its two parts. */
static int split_dir(const char *dir, char **jobs, uint32_t *id)
{
	const char *sl = strrchr(dir, '/');
	*id = job_parse_id(sl ? sl + 1 : dir);
	if (*id == 0)
		return -1;
	*jobs = sl == NULL ? xstrdup(".") : sl == dir ? xstrdup("/") : xstrndup(dir, (size_t)(sl - dir));
	return 0;
}

static void sup_release(struct sup *s)
{
	for (int i = 0; i < JOB_VIEWERS_MAX; i++)
		if (s->v[i])
			drop_viewer(s, i);
	if (s->lsock >= 0)
		close(s->lsock);
	if (s->master >= 0)
		close(s->master);
	job_log_writer_close(&s->log);
	if (s->dirfd >= 0)
		close(s->dirfd);
	harvest_release(&s->h);
	buf_release(&s->in);
	free(s->sock_path);
}

int job_supervise(const char *dir, int rep)
{
	struct job j = { 0 };
	struct job_spec sp = { 0 };
	struct sup s = { .j = &j, .master = -1, .lsock = -1, .dirfd = -1 };
	char *jobs = NULL, *slave = NULL;
	int pex[2] = { -1, -1 }, ret = 1, r;

	sup_detach(rep);
	s.h.ifd = s.h.rootfd = s.h.snapfd = s.h.listfd = -1;
	s.log.fd = -1;
	buf_init(&s.in, JOB_VIEWER_BUF + FRAME_MAX);
	if (split_dir(dir, &jobs, &j.id) < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "'%s' is not a job folder (JOBS/ID)", dir);
		goto out;
	}
	s.jobs = jobs;
	if ((r = job_load_raw(jobs, j.id, &j)) < 0 || (r = job_spec_load(dir, &sp)) < 0) {
		report(rep, MSG_JOB_SUP_ERROR, "cannot read job %u in '%s': %s", j.id, dir,
		       r == -EBADMSG ? "its record or spec is damaged" : strerror(-r));
		goto out;
	}
	if (sup_open(&s, dir, &sp, &slave, pex, rep) < 0 || sup_start(&s, &sp, slave, pex, rep) < 0)
		goto out;
	if (rep >= 0)
		close(rep);
	rep = -1;
	loop(&s);
	ret = WIFSIGNALED(s.status) ? 128 + WTERMSIG(s.status) : WEXITSTATUS(s.status);
out:
	if (rep >= 0)
		close(rep);
	for (int i = 0; i < 2; i++)
		if (pex[i] >= 0)
			close(pex[i]);
	sup_release(&s);
	job_spec_release(&sp);
	job_release(&j);
	free(slave);
	free(jobs);
	return ret;
}

/* Reads the supervisor's report frames until the one that ends it, EOF
 * or the timeout. */
static void read_report(int fd, struct job_report *rp)
{
	struct conn c;
	uint64_t until = now_mono_ns() + JOB_START_TIMEOUT_MS * 1000000ull;
	int fr = 0;
	conn_init(&c, fd, -1);
	while (fr == 0) {
		uint16_t type;
		struct rd body;
		int k;
		while (fr == 0 && (k = conn_next(&c, &type, &body)) == 1)
			fr = job_report_frame(rp, type, &body);
		if (fr != 0 || k < 0)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_mono_ns();
		if (now >= until || poll(&p, 1, (int)((until - now) / 1000000u) + 1) <= 0 || conn_fill(&c) <= 0)
			break;
	}
	conn_release(&c);
}

int job_launch(const char *jobs, struct job *j, char **why, char **warning)
{
	int rp[2];
	*why = NULL;
	if (warning)
		*warning = NULL;
	if (pipe2(rp, O_CLOEXEC) < 0)
		return -errno;
	char *dir = job_dir(jobs, j->id);
	pid_t a = fork();
	if (a < 0) {
		int e = errno;
		close(rp[0]);
		close(rp[1]);
		free(dir);
		return -e;
	}
	if (a == 0) {
		/* First child: a session of its own, then the supervisor as
		 * its child, then gone, so the supervisor is no one's child
		 * and can never get a controlling terminal. */
		close(rp[0]);
		if (setsid() < 0)
			_exit(1);
		pid_t b = fork();
		if (b == 0)
			_exit(job_supervise(dir, rp[1]));
		_exit(b < 0 ? 1 : 0);
	}
	free(dir);
	close(rp[1]);
	int st;
	(void)waitpid(a, &st, 0);
	struct job_report rep = { 0 };
	read_report(rp[0], &rep);
	close(rp[0]);
	int r = 0;
	if (rep.noexec) {
		*why = xstrdup(strerror(rep.noexec));
		r = rep.noexec == ENOENT ? 127 : 126;
	} else if (!rep.running) {
		*why = xstrdup(rep.error ? rep.error : "the supervisor did not start");
		r = -EIO;
	}
	if (warning) {
		*warning = rep.warning;
		rep.warning = NULL;
	}
	job_report_release(&rep);
	return r;
}

int job_done_encode(const struct job *j, struct buf *out)
{
	int r = buf_put_u32(out, j->id);
	r |= buf_put_u8(out, j->state);
	r |= buf_put_u32(out, (uint32_t)j->exit_code);
	r |= buf_put_u32(out, (uint32_t)j->signal);
	return r ? -1 : 0;
}

int job_done_decode(struct rd *r, uint32_t *id, uint8_t *state, int32_t *code, int32_t *sig)
{
	*id = rd_u32(r);
	*state = rd_u8(r);
	*code = (int32_t)rd_u32(r);
	*sig = (int32_t)rd_u32(r);
	rd_expect_end(r);
	return rd_ok(r) && *state < JOB_STATE_COUNT && *sig >= 0 && *sig < 128 && *code >= -1 && *code < 256 ? 0 : -1;
}
