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
 * If the client goes away mid-command (or resets the command's channel),
 * the process group gets SIGHUP, as a terminal hang-up would do.
 *
 * The handler lives on the agent's event loop: the command's pipes are
 * read only while its channel has room (a slow client stalls this command,
 * not the session), stdin is written as the pipe takes it, and SIGCHLD
 * comes as a callback.
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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "fsx.h"
#include "limits.h"
#include "env-login.h"
#include "sig.h"
#include "spawn.h"
#include "names.h"
#include "util.h"

#include "banned.h"

struct xsession {
	struct achan *x;
	struct child ch;
	struct buf in;		/* stdin bytes not yet written to the command */
	bool in_eof;		/* client said stdin is done */
	bool pty;		/* ch.out is a pty master, ch.in a dup of it */
	bool exited;
	int status;
	char *root;
	char **envp;
};

static void send_u32(struct achan *x, uint16_t type, uint32_t v)
{
	struct buf b;
	buf_init(&b, 4);
	buf_put_u32(&b, v);
	achan_queue(x, type, b.data, b.len);
	buf_release(&b);
}

static void send_exit(struct achan *x, int status)
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
	achan_queue(x, MSG_EXIT, b.data, b.len);
	buf_release(&b);
}

static void send_text(struct achan *x, uint16_t type, const char *s)
{
	achan_queue(x, type, s, strlen(s));
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
	/* /etc/passwd, then $SHELL (sshd sets it from the user database),
	 * and only then the server's getent (a process on every command
	 * of an LDAP user otherwise). */
	static struct user_ent u;
	if (names_user_files(getuid(), &u) == 0 && u.shell[0] == '/')
		return u.shell;
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "SHELL=/", 7) == 0)
			return *e + 6;
	if (names_user(getuid(), &u) == 0 && u.shell[0] == '/')
		return u.shell;
	return "/bin/sh";
}

/* The command's process group may still have members: the leader runs,
 * or someone still holds its output pipes.  (The group id cannot be reused
 * while any member lives.) */
static bool group_alive(const struct xsession *xs)
{
	return xs->ch.pid > 0 && (!xs->exited || xs->ch.out >= 0 || xs->ch.err >= 0);
}

static void xs_update(struct xsession *xs);

static void close_fd(struct xsession *xs, int *fd)
{
	ev_fd_del(achan_ev(xs->x), *fd, EV_READ | EV_WRITE);
	close(*fd);
	*fd = -1;
}

static void xs_free(struct xsession *xs)
{
	struct ev_loop *ev = achan_ev(xs->x);
	for (int *fd = &xs->ch.in; fd <= &xs->ch.err; fd++)
		if (*fd >= 0)
			ev_fd_del(ev, *fd, EV_READ | EV_WRITE);
	child_close(&xs->ch);
	buf_release(&xs->in);
	free_words(xs->envp);
	free(xs->root);
	free(xs);
}

/* Reads what the command wrote on fd into a frame; closes it at EOF. */
static void pump_output(struct xsession *xs, int *fd, uint16_t type)
{
	uint8_t b[FRAME_CHUNK];
	ssize_t n = read(*fd, b, sizeof(b));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(xs, fd);
		return;
	}
	achan_queue(xs->x, type, b, (size_t)n);
}

static void feed_stdin(struct xsession *xs)
{
	if (xs->ch.in < 0)
		return;
	if (xs->in.len) {
		ssize_t w = write(xs->ch.in, xs->in.data, xs->in.len);
		if (w > 0) {
			buf_consume(&xs->in, (size_t)w);
			send_u32(xs->x, MSG_WINDOW, (uint32_t)w);
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			/* EPIPE: the command does not want more input. */
			send_u32(xs->x, MSG_WINDOW, (uint32_t)xs->in.len);
			buf_reset(&xs->in);
			close_fd(xs, &xs->ch.in);
		}
	}
	if (xs->in_eof && xs->in.len == 0 && xs->ch.in >= 0)
		close_fd(xs, &xs->ch.in);
}

static void on_fd(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct xsession *xs = arg;
	if (fd == xs->ch.out && (mask & EV_READ))
		pump_output(xs, &xs->ch.out, MSG_STDOUT);
	else if (fd == xs->ch.err && (mask & EV_READ))
		pump_output(xs, &xs->ch.err, MSG_STDERR);
	else if (fd == xs->ch.in && (mask & EV_WRITE))
		feed_stdin(xs);
	xs_update(xs);
}

/* The fds' interest from the state; the EXIT frame once all is over. */
static void xs_update(struct xsession *xs)
{
	struct ev_loop *ev = achan_ev(xs->x);
	if (xs->exited && xs->ch.out < 0 && xs->ch.err < 0) {
		struct achan *x = xs->x;
		send_exit(x, xs->status);
		xs_free(xs);
		achan_done(x);
		return;
	}
	/* Back-pressure: the command's output is read while its channel
	 * has room; otherwise the room callback brings us back. */
	bool room = achan_room(xs->x);
	for (int *fd = &xs->ch.out; fd <= &xs->ch.err; fd++) {
		if (*fd < 0)
			continue;
		if (room)
			ev_fd_add(ev, *fd, EV_READ, on_fd, xs);
		else
			ev_fd_del(ev, *fd, EV_READ);
	}
	/* A pty's in and out are two fds on one terminal: separate entries. */
	if (xs->ch.in >= 0 && xs->in.len)
		ev_fd_add(ev, xs->ch.in, EV_WRITE, on_fd, xs);
	else if (xs->ch.in >= 0)
		ev_fd_del(ev, xs->ch.in, EV_WRITE);
}

static int on_stdin(struct xsession *xs, struct rd *body)
{
	size_t n = rd_left(body);
	const uint8_t *p = rd_bytes(body, n);
	if (xs->in_eof) {
		achan_error(xs->x, PERR_PROTOCOL, "stdin data after end of stdin");
		return -1;
	}
	if (n == 0) {
		xs->in_eof = true;
		return 0;
	}
	if (xs->ch.in < 0) {
		/* The command closed its stdin: discard, but keep the window
		 * turning so the client is never stuck. */
		send_u32(xs->x, MSG_WINDOW, (uint32_t)n);
		return 0;
	}
	if (buf_put(&xs->in, p, n) < 0) {
		achan_error(xs->x, PERR_PROTOCOL, "client sent more stdin than its window");
		return -1;
	}
	return 0;
}

static int on_control(struct xsession *xs, uint16_t type, struct rd *body)
{
	if (type == MSG_EXEC_RESIZE) {
		uint16_t rows = rd_u16(body), cols = rd_u16(body);
		rd_expect_end(body);
		if (!rd_ok(body) || !xs->pty) {
			achan_error(xs->x, PERR_PROTOCOL, "bad resize request");
			return -1;
		}
		struct winsize ws = { .ws_row = rows, .ws_col = cols };
		if (xs->ch.out >= 0 && rows && cols)
			(void)ioctl(xs->ch.out, TIOCSWINSZ, &ws);
		return 0;
	}
	uint32_t w = rd_u32(body);
	rd_expect_end(body);
	int sig = wire_to_signal(w);
	if (!rd_ok(body) || sig < 0) {
		achan_error(xs->x, PERR_PROTOCOL, "bad signal request");
		return -1;
	}
	if (group_alive(xs))
		kill(-xs->ch.pid, sig);
	return 0;
}

/* A frame from the client during the command; -1 ends the request. */
static int xs_frame(struct achan *x, uint16_t type, struct rd *body)
{
	struct xsession *xs = x->st;
	int r = 0;
	switch (type) {
	case MSG_STDIN:
		r = on_stdin(xs, body);
		break;
	case MSG_CLOSE_STDOUT:
		/* The client's stdout is gone: the command gets SIGPIPE on its
		 * next write instead of producing output nobody reads. */
		if (xs->ch.out >= 0)
			close_fd(xs, &xs->ch.out);
		break;
	case MSG_EXEC_RESIZE:
	case MSG_SIGNAL:
		r = on_control(xs, type, body);
		break;
	default:
		achan_error(x, PERR_PROTOCOL, "unexpected message type 0x%04x during a command", type);
		return -1;
	}
	if (r == 0) {
		feed_stdin(xs);
		xs_update(xs);
	}
	return r;
}

static void xs_room(struct achan *x)
{
	xs_update(x->st);
}

static void xs_child(struct achan *x)
{
	struct xsession *xs = x->st;
	if (!xs->exited && waitpid(xs->ch.pid, &xs->status, WNOHANG) == xs->ch.pid) {
		xs->exited = true;
		xs_update(xs);
	}
}

/* The client is gone or gave up: hang up the command as a terminal would. */
static void xs_stop(struct achan *x)
{
	struct xsession *xs = x->st;
	if (group_alive(xs))
		kill(-xs->ch.pid, SIGHUP);
	if (xs->ch.pid > 0 && !xs->exited)
		achan_reap_later(x, xs->ch.pid);
	xs_free(xs);
}

static const struct achan_ops exec_ops = {
	.frame = xs_frame, .room = xs_room, .child = xs_child, .stop = xs_stop,
};

/* Opens the terminal for EXEC_PTY and sets o to use it; 0 or -errno. */
static int pty_setup(struct xsession *xs, const struct exec_req *req, struct spawn_opts *o, int *master,
		     char **slave)
{
	int r = pty_open(master, slave);
	if (r < 0)
		return r;
	struct winsize ws = { .ws_row = req->rows, .ws_col = req->cols };
	if (req->rows && req->cols)
		(void)ioctl(*master, TIOCSWINSZ, &ws);
	o->in = o->out = o->err = SPAWN_INHERIT;
	o->new_pgrp = false;
	o->new_session = true;	/* the group leader too: signals reach it */
	o->tty = *slave;
	xs->pty = true;
	return 0;
}

/* Spawns the command: 0; 1 when it could not start (its EXIT queued);
 * -1 when the request fails (an ERROR queued). */
static int xs_spawn(struct xsession *xs, const struct exec_req *req)
{
	char *sh_argv[4] = { NULL, "-c", NULL, NULL };
	char **argv = req->argv;
	if (req->flags & EXEC_SHELL) {
		sh_argv[0] = (char *)agent_user_shell(xs->envp);
		sh_argv[2] = req->argv[0];
		argv = sh_argv;
	}
	struct spawn_opts o = {
		.in = (req->flags & EXEC_NO_STDIN) ? SPAWN_NULL : SPAWN_PIPE,
		.out = SPAWN_PIPE, .err = SPAWN_PIPE,
		.envp = xs->envp, .cwd = xs->root, .new_pgrp = true,
	};
	int master = -1;
	char *slave = NULL;
	int r = 0;
	if ((req->flags & EXEC_PTY) && (r = pty_setup(xs, req, &o, &master, &slave)) < 0) {
		achan_error(xs->x, PERR_INTERNAL, "cannot open a terminal: %s", strerror(-r));
		return -1;
	}
	r = spawn(argv, &o, &xs->ch);
	free(slave);
	if (xs->pty && r == 0) {
		/* Read and written from one fd; in and out close apart. */
		xs->ch.out = master;
		xs->ch.in = (req->flags & EXEC_NO_STDIN) ? -1 : fcntl(master, F_DUPFD_CLOEXEC, 3);
		master = -1;
	}
	if (master >= 0)
		close(master);
	if (r < 0) {
		/* Shell conventions: 127 not found, 126 found but not runnable. */
		char *m = xasprintf("ferry: cannot run '%s': %s\n", argv[0], strerror(-r));
		send_text(xs->x, MSG_STDERR, m);
		free(m);
		send_exit(xs->x, (r == -ENOENT ? 127 : 126) << 8);
		return 1;
	}
	return 0;
}

int agent_exec_start(struct achan *x, struct rd *body)
{
	struct exec_req req;
	if (exec_req_decode(body, &req) < 0) {
		achan_error(x, PERR_PROTOCOL, "malformed exec request");
		return -1;
	}
	struct xsession *xs = xcalloc(1, sizeof(*xs));
	int ret = -1;
	xs->x = x;
	xs->ch = (struct child){ .pid = -1, .in = -1, .out = -1, .err = -1 };
	buf_init(&xs->in, STDIN_WINDOW);
	xs->root = agent_root_path(req.root);
	int r = mkdir_p(xs->root, 0755);
	if (r < 0) {
		achan_error(x, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot use project folder '%s': %s",
			    xs->root, strerror(-r));
		goto done;
	}
	char *warning;
	xs->envp = agent_env(!(req.flags & EXEC_NO_LOGIN_ENV), req.env, req.envc, xs->root, &warning);
	if (warning) {
		send_text(x, MSG_STDERR, warning);
		free(warning);
	}
	/* Before the fork: a child that ends at once is not missed. */
	x->st = xs;
	x->ops = &exec_ops;
	achan_children(x, true);
	if ((r = xs_spawn(xs, &req)) != 0) {
		ret = r > 0 ? 0 : -1;
		goto done;
	}
	for (int *fd = &xs->ch.in; fd <= &xs->ch.err; fd++)
		if (*fd >= 0)
			fd_nonblock(*fd);
	send_u32(x, MSG_EXEC_STARTED, (uint32_t)xs->ch.pid);
	exec_req_release(&req);
	/* It may have ended already: its SIGCHLD came before we listened. */
	xs_child(x);
	if (x->ops == &exec_ops)
		xs_update(xs);
	return 0;
done:
	/* Not started, or answered already: an error ends the session on
	 * channel 0 as before, the request only on another. */
	xs_free(xs);
	achan_done(x);
	exec_req_release(&req);
	return ret;
}
