/*
 * spawn.c - starting processes.
 *
 * All fds ferry opens are close-on-exec; a child gets exactly stdin, stdout
 * and stderr.  Ignored signals survive execve, so the child restores the
 * defaults ferry changed (SIGPIPE above all) before exec.  An exec failure
 * travels back over a close-on-exec pipe: EOF there means exec succeeded.
 */
#define _GNU_SOURCE
#include "limits.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

void fd_pipe_grow(int fd)
{
	/* Fails on a socket or past fs.pipe-max-size: it is only faster. */
	(void)fcntl(fd, F_SETPIPE_SZ, PIPE_GROW);
}

int fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int pty_open(int *master, char **slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	char name[128];
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		int e = errno;
		close(m);
		return -e;
	}
	*master = m;
	*slave = xstrdup(name);
	return 0;
}

int fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static const char *env_get(char *const envp[], const char *name)
{
	size_t n = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

int exec_search(char *const argv[], char *const envp[])
{
	extern char **environ;
	char *const *env = envp ? envp : environ;
	const char *file = argv[0];
	int err = ENOENT;

	if (strchr(file, '/') != NULL) {
		execve(file, argv, env);
		return -errno;
	}
	const char *path = env_get(env, "PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	size_t fl = strlen(file);
	char *buf = xmalloc(strlen(path) + fl + 2);
	for (const char *p = path;; p++) {
		const char *e = strchr(p, ':');
		size_t dl = e ? (size_t)(e - p) : strlen(p);
		if (dl == 0) {
			memcpy(buf, file, fl + 1);	/* empty entry = cwd */
		} else {
			memcpy(buf, p, dl);
			buf[dl] = '/';
			memcpy(buf + dl + 1, file, fl + 1);
		}
		execve(buf, argv, env);
		/* Like execvp: remember EACCES, keep looking on ENOENT & co. */
		if (errno == EACCES)
			err = EACCES;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG)
			err = errno;
		if (e == NULL)
			break;
		p = e;
	}
	free(buf);
	return -err;
}

static void child_setup_fd(enum spawn_fd mode, int pipefd, int target, int null_flags)
{
	if (mode == SPAWN_PIPE) {
		if (pipefd == target)
			fcntl(target, F_SETFD, 0);	/* dup2 would keep FD_CLOEXEC */
		else
			dup2(pipefd, target);
	} else if (mode == SPAWN_NULL) {
		int fd = open("/dev/null", null_flags);
		if (fd >= 0 && fd != target) {
			dup2(fd, target);
			close(fd);
		}
	}
}

int spawn(char *const argv[], const struct spawn_opts *o, struct child *c)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, pex[2] = { -1, -1 };
	int r = 0;

	c->pid = -1;
	c->in = c->out = c->err = -1;
	if ((o->in == SPAWN_PIPE && pipe2(pin, O_CLOEXEC) < 0) ||
	    (o->out == SPAWN_PIPE && pipe2(pout, O_CLOEXEC) < 0) ||
	    (o->err == SPAWN_PIPE && pipe2(perr, O_CLOEXEC) < 0) ||
	    pipe2(pex, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		sig_default_all();
		if (o->ignore_sigint)
			sig_ignore(SIGINT);
		if (o->new_session)
			setsid();
		else if (o->new_pgrp)
			setpgid(0, 0);
		child_setup_fd(o->in, pin[0], 0, O_RDONLY);
		child_setup_fd(o->out, pout[1], 1, O_WRONLY);
		child_setup_fd(o->err, perr[1], 2, O_WRONLY);
		int e = 0;
		if (o->tty != NULL) {
			/* The first terminal a session leader opens is its
			 * controlling one; TIOCSCTTY says so where that is not
			 * the rule. */
			int t = open(o->tty, O_RDWR);
			if (t < 0 || ioctl(t, TIOCSCTTY, 0) < 0 || dup2(t, 0) < 0 || dup2(t, 1) < 0 || dup2(t, 2) < 0)
				e = errno;
			if (t > 2)
				close(t);
		}
		if (e == 0 && o->cwd != NULL && chdir(o->cwd) < 0)
			e = errno;
		if (e == 0)
			e = -exec_search(argv, o->envp);
		(void)!write(pex[1], &e, sizeof(e));
		_exit(127);
	}
	c->pid = pid;
	close(pex[1]);
	pex[1] = -1;
	int e = 0;
	ssize_t n;
	do
		n = read(pex[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e)) {
		int st;
		wait_child(pid, &st);
		c->pid = -1;
		r = -e;
		goto out;
	}
	if (o->in == SPAWN_PIPE) {
		c->in = pin[1];
		pin[1] = -1;
	}
	if (o->out == SPAWN_PIPE) {
		c->out = pout[0];
		pout[0] = -1;
	}
	if (o->err == SPAWN_PIPE) {
		c->err = perr[0];
		perr[0] = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0) close(pin[i]);
		if (pout[i] >= 0) close(pout[i]);
		if (perr[i] >= 0) close(perr[i]);
		if (pex[i] >= 0) close(pex[i]);
	}
	return r;
}

void child_close(struct child *c)
{
	if (c->in >= 0) close(c->in);
	if (c->out >= 0) close(c->out);
	if (c->err >= 0) close(c->err);
	c->in = c->out = c->err = -1;
}

int wait_child(pid_t pid, int *status)
{
	pid_t r;
	do
		r = waitpid(pid, status, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int spawn_capture(char *const argv[], unsigned timeout_ms, struct buf *out, bool *cut)
{
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_PIPE, .err = SPAWN_NULL, .new_session = true };
	struct child c;
	if (cut)
		*cut = false;
	if (spawn(argv, &o, &c) < 0)
		return -1;
	uint64_t deadline = now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	bool timed_out = false;
	for (;;) {
		uint64_t now = now_mono_ns();
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		struct pollfd pf = { .fd = c.out, .events = POLLIN };
		int pr = poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1);
		if (pr < 0 && errno != EINTR) {
			timed_out = true;	/* cannot wait: give up on it */
			break;
		}
		if (pr <= 0)
			continue;
		uint8_t *sp = buf_space(out, 4096);
		char junk[4096];
		ssize_t r = read(c.out, sp ? (void *)sp : junk, 4096);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		if (sp)
			buf_commit(out, (size_t)r);
		else if (cut)
			*cut = true;
	}
	if (timed_out)
		kill(c.pid, SIGKILL);
	child_close(&c);
	int st;
	if (wait_child(c.pid, &st) < 0 || timed_out || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}
