/*
 * agent-exec.c - run one command for the client and relay its streams.
 *
 * The command runs in its own process group in the project root, with the
 * login environment unless asked not to.  stdout/stderr become STDOUT and
 * STDERR frames; STDIN frames feed its stdin within a window the agent
 * grants (so a command that does not read cannot make us buffer without
 * bound); SIGNAL frames go to its process group.  The EXIT frame is sent
 * once the process is reaped and both output pipes reached EOF.
 *
 * If the client goes away mid-command, the process group gets SIGHUP, as a
 * terminal hang-up would do.
 *
 * With EXEC_PTY the command gets a terminal instead of pipes (ferry exec
 * -t, ferry shell): it is the session leader on a new pty, whose master
 * is both its stdout (STDOUT frames; stderr is the same terminal) and its
 * stdin; EXEC_RESIZE sets the window size.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "env-login.h"
#include "sig.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

struct xsession {
	struct conn *c;
	struct child ch;
	struct buf in;		/* stdin bytes not yet written to the command */
	bool in_eof;		/* client said stdin is done */
	bool pty;		/* ch.out is a pty master, ch.in a dup of it */
	bool exited;
	int status;
};

static void send_u32(struct conn *c, uint16_t type, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	conn_queue(c, type, b, 4);
}

static void send_exit(struct conn *c, int status)
{
	struct buf b;
	buf_init(&b, 16);
	if (WIFSIGNALED(status)) {
		buf_put_u8(&b, 1);
		buf_put_u32(&b, signal_to_wire(WTERMSIG(status)) ? signal_to_wire(WTERMSIG(status))
			    : (uint32_t)WTERMSIG(status));
	} else {
		buf_put_u8(&b, 0);
		buf_put_u32(&b, (uint32_t)WEXITSTATUS(status));
	}
	conn_queue(c, MSG_EXIT, b.data, b.len);
	buf_release(&b);
}


static void send_text(struct conn *c, uint16_t type, const char *s)
{
	conn_queue(c, type, s, strlen(s));
}

char **agent_env(bool login, char *const *extra, uint32_t nextra, const char *root, char **warning)
{
	extern char **environ;
	char **base = NULL, *why = NULL;
	bool cached;
	size_t n = 0;

	*warning = NULL;
	if (login && loginenv_get(&base, &why, &cached) < 0) {
		/* Not fatal: the command still runs, with ssh's environment. */
		*warning = xasprintf("ferry: warning: %s; using the ssh session's environment\n", why);
		free(why);
		base = NULL;
	}
	char *const *src = base ? base : environ;
	for (char *const *e = src; *e; e++)
		n++;
	char **v = xcalloc(n + nextra + 2, sizeof(char *));
	size_t o = 0;
	for (char *const *e = src; *e; e++) {
		if (strncmp(*e, "PWD=", 4) == 0)
			continue;
		bool overridden = false;
		for (uint32_t i = 0; i < nextra; i++) {
			size_t kl = strcspn(extra[i], "=");
			if (strncmp(*e, extra[i], kl + 1) == 0)
				overridden = true;
		}
		if (!overridden)
			v[o++] = xstrdup(*e);
	}
	for (uint32_t i = 0; i < nextra; i++)
		v[o++] = xstrdup(extra[i]);
	v[o++] = xasprintf("PWD=%s", root);
	v[o] = NULL;
	free_words(base);
	return v;
}

const char *agent_user_shell(char *const *envp)
{
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_shell && pw->pw_shell[0] == '/')
		return pw->pw_shell;
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "SHELL=/", 7) == 0)
			return *e + 6;
	return "/bin/sh";
}

/* The command's process group may still have members: the leader runs,
 * or someone still holds its output pipes.  (The group id cannot be reused
 * while any member lives.) */
static bool group_alive(const struct xsession *x)
{
	return x->ch.pid > 0 && (!x->exited || x->ch.out >= 0 || x->ch.err >= 0);
}

/* Reads what the command wrote on fd into frames; -1 at EOF. */
static int pump_output(struct conn *c, int *fd, uint16_t type)
{
	uint8_t b[FRAME_CHUNK];
	ssize_t n = read(*fd, b, sizeof(b));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	conn_queue(c, type, b, (size_t)n);
	return 0;
}

/* Handles one frame during the command; -1 ends the session. */
static int on_frame(struct xsession *x, uint16_t type, struct rd *body)
{
	switch (type) {
	case MSG_STDIN: {
		size_t n = rd_left(body);
		const uint8_t *p = rd_bytes(body, n);
		if (x->in_eof) {
			agent_error(x->c, PERR_PROTOCOL, "stdin data after end of stdin");
			return -1;
		}
		if (n == 0) {
			x->in_eof = true;
			return 0;
		}
		if (x->ch.in < 0) {
			/* The command closed its stdin: discard, but keep the
			 * window turning so the client is never stuck. */
			send_u32(x->c, MSG_WINDOW, (uint32_t)n);
			return 0;
		}
		if (buf_put(&x->in, p, n) < 0) {
			agent_error(x->c, PERR_PROTOCOL, "client sent more stdin than its window");
			return -1;
		}
		return 0;
	}
	case MSG_CLOSE_STDOUT:
		/* The client's stdout is gone: the command gets SIGPIPE on its
		 * next write instead of producing output nobody reads. */
		if (x->ch.out >= 0) {
			close(x->ch.out);
			x->ch.out = -1;
		}
		return 0;
	case MSG_EXEC_RESIZE: {
		uint16_t rows = rd_u16(body), cols = rd_u16(body);
		rd_expect_end(body);
		if (!rd_ok(body) || !x->pty) {
			agent_error(x->c, PERR_PROTOCOL, "bad resize request");
			return -1;
		}
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		if (x->ch.out >= 0 && rows && cols)
			(void)ioctl(x->ch.out, TIOCSWINSZ, &ws);
		return 0;
	}
	case MSG_SIGNAL: {
		uint32_t w = rd_u32(body);
		rd_expect_end(body);
		int sig = wire_to_signal(w);
		if (!rd_ok(body) || sig < 0) {
			agent_error(x->c, PERR_PROTOCOL, "bad signal request");
			return -1;
		}
		if (group_alive(x))
			kill(-x->ch.pid, sig);
		return 0;
	}
	default:
		agent_error(x->c, PERR_PROTOCOL, "unexpected message type 0x%04x during a command", type);
		return -1;
	}
}

static void feed_stdin(struct xsession *x);

/* Handles every complete frame already buffered; -1 ends the session. */
static int drain_frames(struct xsession *x)
{
	uint16_t type;
	struct rd fb;
	int nr;
	while ((nr = conn_next(x->c, &type, &fb)) == 1)
		if (on_frame(x, type, &fb) < 0)
			return -1;
	if (nr < 0) {
		agent_error(x->c, PERR_PROTOCOL, "oversize or malformed frame header");
		return -1;
	}
	feed_stdin(x);
	return 0;
}

static void feed_stdin(struct xsession *x)
{
	if (x->ch.in < 0)
		return;
	if (x->in.len) {
		ssize_t w = write(x->ch.in, x->in.data, x->in.len);
		if (w > 0) {
			buf_consume(&x->in, (size_t)w);
			send_u32(x->c, MSG_WINDOW, (uint32_t)w);
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			/* EPIPE: the command does not want more input. */
			send_u32(x->c, MSG_WINDOW, (uint32_t)x->in.len);
			buf_reset(&x->in);
			close(x->ch.in);
			x->ch.in = -1;
		}
	}
	if (x->in_eof && x->in.len == 0 && x->ch.in >= 0) {
		close(x->ch.in);
		x->ch.in = -1;
	}
}

int agent_exec(struct conn *c, struct rd *body)
{
	struct exec_req req;
	struct xsession x = { .c = c, .ch = { .pid = -1, .in = -1, .out = -1, .err = -1 } };
	char *root = NULL, **envp = NULL;
	int ret = -1;

	if (exec_req_decode(body, &req) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed exec request");
		return -1;
	}
	buf_init(&x.in, STDIN_WINDOW);
	root = agent_root_path(req.root);
	int r = mkdir_p(root, 0755);
	if (r < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot use project folder '%s': %s",
			    root, strerror(-r));
		goto out;
	}
	char *warning;
	envp = agent_env(!(req.flags & EXEC_NO_LOGIN_ENV), req.env, req.envc, root, &warning);
	if (warning) {
		send_text(c, MSG_STDERR, warning);
		free(warning);
	}

	char *sh_argv[4] = { NULL, "-c", NULL, NULL };
	char **argv = req.argv;
	if (req.flags & EXEC_SHELL) {
		sh_argv[0] = (char *)agent_user_shell(envp);
		sh_argv[2] = req.argv[0];
		argv = sh_argv;
	}
	sig_watch(SIGCHLD);
	struct spawn_opts o = {
		.in = (req.flags & EXEC_NO_STDIN) ? SPAWN_NULL : SPAWN_PIPE,
		.out = SPAWN_PIPE, .err = SPAWN_PIPE,
		.envp = envp, .cwd = root, .new_pgrp = true,
	};
	int master = -1;
	char *slave = NULL;
	if (req.flags & EXEC_PTY) {
		r = pty_open(&master, &slave);
		if (r < 0) {
			agent_error(c, PERR_INTERNAL, "cannot open a terminal: %s", strerror(-r));
			goto out;
		}
		struct winsize ws = { .ws_row = req.rows, .ws_col = req.cols };
		if (req.rows && req.cols)
			(void)ioctl(master, TIOCSWINSZ, &ws);
		o.in = o.out = o.err = SPAWN_INHERIT;
		o.new_pgrp = false;
		o.new_session = true;	/* the group leader too: signals reach it */
		o.tty = slave;
		x.pty = true;
	}
	r = spawn(argv, &o, &x.ch);
	free(slave);
	if (x.pty && r == 0) {
		/* Read and written from one fd; in and out close apart. */
		x.ch.out = master;
		x.ch.in = (req.flags & EXEC_NO_STDIN) ? -1 : fcntl(master, F_DUPFD_CLOEXEC, 3);
		master = -1;
	}
	if (master >= 0)
		close(master);
	if (r < 0) {
		/* Shell conventions: 127 not found, 126 found but not runnable. */
		char *m = xasprintf("ferry: cannot run '%s': %s\n", argv[0], strerror(-r));
		send_text(c, MSG_STDERR, m);
		free(m);
		send_exit(c, (r == -ENOENT ? 127 : 126) << 8);
		ret = 0;
		goto out;
	}
	for (int *fd = &x.ch.in; fd <= &x.ch.err; fd++)
		if (*fd >= 0)
			fd_nonblock(*fd);
	send_u32(c, MSG_EXEC_STARTED, (uint32_t)x.ch.pid);
	/* Input pipelined behind the request is already buffered. */
	if (drain_frames(&x) < 0)
		goto kill;

	for (;;) {
		struct pollfd p[6];
		int np = 0, ic, iw = -1, io = -1, ie = -1, ii = -1, is;

		if (x.exited && x.ch.out < 0 && x.ch.err < 0)
			break;
		ic = np;
		p[np++] = (struct pollfd){ .fd = c->rfd, .events = POLLIN };
		if (c->out.len) {
			iw = np;
			p[np++] = (struct pollfd){ .fd = c->wfd, .events = POLLOUT };
		}
		/* Backpressure: stop reading the command while the client lags. */
		if (c->out.len < CONN_OUT_HIGH && x.ch.out >= 0) {
			io = np;
			p[np++] = (struct pollfd){ .fd = x.ch.out, .events = POLLIN };
		}
		if (c->out.len < CONN_OUT_HIGH && x.ch.err >= 0) {
			ie = np;
			p[np++] = (struct pollfd){ .fd = x.ch.err, .events = POLLIN };
		}
		if (x.in.len && x.ch.in >= 0) {
			ii = np;
			p[np++] = (struct pollfd){ .fd = x.ch.in, .events = POLLOUT };
		}
		is = np;
		p[np++] = (struct pollfd){ .fd = sig_fd(), .events = POLLIN };
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			goto hangup;
		}
		if (p[is].revents) {
			sig_drain();
			sig_take(SIGCHLD);
			if (!x.exited && waitpid(x.ch.pid, &x.status, WNOHANG) == x.ch.pid)
				x.exited = true;
		}
		if (io >= 0 && p[io].revents)
			pump_output(c, &x.ch.out, MSG_STDOUT);
		if (ie >= 0 && p[ie].revents)
			pump_output(c, &x.ch.err, MSG_STDERR);
		if (ii >= 0 && p[ii].revents)
			feed_stdin(&x);
		if (iw >= 0 && p[iw].revents && conn_flush_some(c) < 0)
			goto hangup;
		if (p[ic].revents) {
			int fr = conn_fill(c);
			if (drain_frames(&x) < 0)
				goto kill;
			if (fr == 0 || (fr < 0 && fr != -EAGAIN))
				goto hangup;
		}
	}
	send_exit(c, x.status);
	ret = 0;
	goto out;
hangup:
	/* The client is gone: hang up the command as a terminal would. */
kill:
	if (group_alive(&x))
		kill(-x.ch.pid, SIGHUP);
out:
	sig_unwatch(SIGCHLD);
	child_close(&x.ch);
	buf_release(&x.in);
	free_words(envp);
	free(root);
	exec_req_release(&req);
	return ret;
}
