/*
 * cmd-exec.c - `ferry exec [--] CMD [ARG...]`: run a command in the project
 * folder on the target and relay stdin, stdout, stderr, signals and the
 * exit status.
 *
 * Our stdin is read only while the agent has granted window, so a command
 * that never reads its input costs at most STDIN_WINDOW bytes of buffering.
 *
 * With -t (and `ferry shell`) the command gets a terminal on the server
 * and ours is in raw mode, as with ssh -t: keys, Ctrl-C included, go as
 * bytes; the window size follows ours.  The terminal is restored on every
 * way out (atexit: ferr_die and die exit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "ev.h"
#include "limits.h"
#include "session.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

struct relay {
	struct session *s;
	size_t credit;		/* stdin bytes we may still send */
	bool stdin_done;
	bool stdout_broken;
	bool exited;
	int code;
	int stop_sig;		/* TERM/HUP we got and forwarded */
	bool pty;		/* -t: raw terminal, window size follows */
	int interrupts;		/* SIGINTs forwarded */
	bool failed;		/* the relay ended with *e set */
	struct ev_loop *ev;
	struct ferr *e;
};

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		(void)tcsetattr(0, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

static void set_raw(void)
{
	struct termios raw;
	if (tcgetattr(0, &saved_tio) < 0)
		return;
	tio_saved = true;
	atexit(restore_tty);
	raw = saved_tio;
	cfmakeraw(&raw);
	/* Drain, not flush: what was typed while connecting is for the
	 * command. */
	(void)tcsetattr(0, TCSADRAIN, &raw);
}

static void term_size(uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;
	*rows = *cols = 0;
	if (ioctl(0, TIOCGWINSZ, &ws) == 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void send_resize(struct relay *x)
{
	uint16_t rows, cols;
	term_size(&rows, &cols);
	struct buf b;
	buf_init(&b, 4);
	buf_put_u16(&b, rows);
	buf_put_u16(&b, cols);
	if (rows && cols)
		conn_queue(&x->s->c, MSG_EXEC_RESIZE, b.data, b.len);
	buf_release(&b);
}

static void send_signal(struct relay *x, int sig)
{
	struct buf b;
	buf_init(&b, 4);
	buf_put_u32(&b, signal_to_wire(sig));
	conn_queue(&x->s->c, MSG_SIGNAL, b.data, b.len);
	buf_release(&b);
}

static void write_out(struct relay *x, int fd, const uint8_t *p, size_t n)
{
	if (fd == 1 && x->stdout_broken)
		return;
	/* Our stdout may be shared and non-blocking (someone else set it). */
	int r = write_all(fd, p, n);
	if (r < 0 && fd == 1) {
		/* `cmd | head`: have the agent close the command's stdout so
		 * the command gets SIGPIPE, as it would locally. */
		x->stdout_broken = true;
		conn_queue(&x->s->c, MSG_CLOSE_STDOUT, NULL, 0);
	}
}

/* One frame from the agent; -1 with e set ends the command. */
static int on_frame(struct relay *x, uint16_t type, struct rd *body, struct ferr *e)
{
	size_t n;
	const uint8_t *p;

	switch (type) {
	case MSG_EXEC_STARTED:
		(void)rd_u32(body);
		return 0;
	case MSG_STDOUT:
	case MSG_STDERR:
		n = rd_left(body);
		p = rd_bytes(body, n);
		write_out(x, type == MSG_STDOUT ? 1 : 2, p, n);
		return 0;
	case MSG_WINDOW: {
		uint32_t w = rd_u32(body);
		rd_expect_end(body);
		if (!rd_ok(body) || x->credit + w > STDIN_WINDOW) {
			ferr_set(e, EXIT_PROTO, NULL, "the agent on '%s' sent a bad window update", x->s->label);
			return -1;
		}
		x->credit += w;
		return 0;
	}
	case MSG_EXIT: {
		uint8_t how = rd_u8(body);
		uint32_t v = rd_u32(body);
		rd_expect_end(body);
		if (!rd_ok(body) || how > 1 || (how == 0 && v > 255) || (how == 1 && (v == 0 || v > 127))) {
			ferr_set(e, EXIT_PROTO, NULL, "the agent on '%s' sent a bad exit status", x->s->label);
			return -1;
		}
		if (how == 0) {
			x->code = (int)v;
		} else {
			int sig = wire_to_signal(v);
			x->code = 128 + (sig > 0 ? sig : (int)v);
		}
		x->exited = true;
		return 0;
	}
	case MSG_ERROR:
		(void)err_from_peer(body, x->s->label, e);
		return -1;
	default:
		ferr_set(e, EXIT_PROTO, NULL, "unexpected message 0x%04x from the agent on '%s'", type, x->s->label);
		return -1;
	}
}

static void pump_stdin(struct relay *x)
{
	uint8_t b[FRAME_CHUNK];
	size_t want = x->credit < sizeof(b) ? x->credit : sizeof(b);
	ssize_t n = read(0, b, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		conn_queue(&x->s->c, MSG_STDIN, NULL, 0);
		x->stdin_done = true;
		return;
	}
	conn_queue(&x->s->c, MSG_STDIN, b, (size_t)n);
	x->credit -= (size_t)n;
}

/* Handles every complete frame already buffered. */
static int drain_frames(struct relay *x, struct ferr *e)
{
	uint16_t type;
	struct rd body;
	int nr = 0;
	while (!x->exited && (nr = conn_next(&x->s->c, &type, &body)) == 1)
		if (on_frame(x, type, &body, e) < 0)
			return -1;
	if (!x->exited && nr < 0) {
		ferr_set(e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", x->s->label);
		return -1;
	}
	return 0;
}

/* The relay's event handlers record a failure here and stop the loop. */
static void relay_fail(struct relay *x)
{
	x->failed = true;
	ev_stop(x->ev);
}

static void on_link_read(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct relay *x = arg;
	int r = conn_fill(&x->s->c);
	if (drain_frames(x, x->e) < 0) {
		relay_fail(x);
	} else if (!x->exited && (r == 0 || (r < 0 && r != -EAGAIN))) {
		session_lost(x->s, true, x->e);
		relay_fail(x);
	}
}

static void on_link_write(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct relay *x = arg;
	if (conn_flush_some(&x->s->c) < 0) {
		session_lost(x->s, true, x->e);
		relay_fail(x);
	}
}

static void on_stdin(struct ev_loop *ev, int fd, int mask, void *arg)
{
	pump_stdin(arg);
}

static void on_ssh_stderr(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct relay *x = arg;
	session_read_stderr(x->s);
}

/* The TERM/HUP grace period ran out: stop waiting for the command. */
static int64_t on_stop_deadline(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct relay *x = arg;
	(void)conn_flush_some(&x->s->c);
	ferr_set(x->e, 128 + x->stop_sig, "the command got the signal and may still be running on the server",
		 "stopped by signal %d; stopped waiting for the command on %s", x->stop_sig, x->s->label);
	relay_fail(x);
	return EV_TIMER_END;
}

static void on_signal(struct ev_loop *ev, int sig, int count, void *arg)
{
	struct relay *x = arg;
	switch (sig) {
	case SIGWINCH:
		if (x->pty)
			send_resize(x);
		return;
	case SIGINT:
	case SIGQUIT:
		for (int i = 0; i < count; i++)
			send_signal(x, sig);
		if (sig == SIGINT && (x->interrupts += count) >= INT_PRESSES_TO_QUIT) {
			(void)conn_flush_some(&x->s->c);
			ferr_set(x->e, 130, "the command got SIGINT and may still be running on the server",
				 "interrupted; stopped waiting for the command on %s", x->s->label);
			relay_fail(x);
		}
		return;
	default:
		/* TERM/HUP: pass it on, give the command a moment to end, then
		 * end ourselves too (timeout, closed terminal). */
		send_signal(x, sig);
		if (!x->stop_sig) {
			x->stop_sig = sig;
			ev_timer_add(ev, SIGNAL_GRACE_MS, on_stop_deadline, x);
		}
	}
}

/* Before each poll: which fds we want, from the state. */
static void relay_interest(struct ev_loop *ev, void *arg)
{
	struct relay *x = arg;
	struct session *s = x->s;
	if (s->c.out.len)
		ev_fd_add(ev, s->c.wfd, EV_WRITE, on_link_write, x);
	else
		ev_fd_del(ev, s->c.wfd, EV_WRITE);
	/* Our stdin only within the agent's window. */
	if (!x->stdin_done && x->credit > 0 && s->c.out.len < CONN_OUT_HIGH)
		ev_fd_add(ev, 0, EV_READ, on_stdin, x);
	else
		ev_fd_del(ev, 0, EV_READ);
	if (s->proc.err >= 0)
		ev_fd_add(ev, s->proc.err, EV_READ, on_ssh_stderr, x);
	else
		ev_fd_del(ev, s->proc.err, EV_READ);
}

static int relay(struct relay *x, struct ferr *e)
{
	static const int sigs[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGWINCH };
	x->e = e;
	/* Frames that came in with the hello. */
	if (drain_frames(x, e) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		if (sigs[i] != SIGWINCH || x->pty)
			ev_sig_add(x->ev, sigs[i], on_signal, x);
	ev_fd_add(x->ev, x->s->c.rfd, EV_READ, on_link_read, x);
	ev_set_before(x->ev, relay_interest, x);
	while (!x->exited && !x->failed) {
		int r = ev_once(x->ev, -1);
		if (r < 0) {
			ferr_set(e, EXIT_OSERR, NULL, "poll: %s", strerror(-r));
			return -1;
		}
		/* What the last frames asked for goes out now (CLOSE_STDOUT...). */
		if (!x->failed && x->s->c.out.len && conn_flush_some(&x->s->c) < 0) {
			session_lost(x->s, true, e);
			return -1;
		}
	}
	return x->failed ? -1 : 0;
}

/* Runs req on the target and relays until it ends; its exit status. */
static int exec_run(const struct cmd_ctx *ctx, struct exec_req *req)
{
	struct config cfg;
	struct session s;
	struct ferr e = { 0 };
	struct buf b;

	if (req->flags & EXEC_PTY) {
		/* What the terminal here is, for programs there. */
		const char *term = getenv("TERM");
		bool given = false;
		for (uint32_t i = 0; i < req->envc; i++)
			given = given || strncmp(req->env[i], "TERM=", 5) == 0;
		if (term && term[0] && !given && strlen(term) < TERM_NAME_MAX) {
			req->env = xrealloc(req->env, (req->envc + 2) * sizeof(char *));
			req->env[req->envc++] = xasprintf("TERM=%s", term);
			req->env[req->envc] = NULL;
		}
		term_size(&req->rows, &req->cols);
	}
	cmd_load_config(&cfg, ctx->dir);
	req->root = xstrdup(cfg.path);
	buf_init(&b, FRAME_MAX);
	if (exec_req_encode(req, &b) < 0)
		cmd_usage_die("exec", "the command line is too long (at most %d bytes)", FRAME_MAX);

	sig_watch(SIGINT);
	sig_watch(SIGQUIT);
	sig_watch(SIGTERM);
	sig_watch(SIGHUP);
	struct session_opts so = { 0 };
	if (session_open(&s, &cfg, &so, MSG_EXEC, &b, &e) < 0)
		ferr_die(&e);
	struct relay x = { .s = &s, .credit = STDIN_WINDOW, .pty = req->flags & EXEC_PTY, .ev = ev_new() };
	if (req->flags & EXEC_NO_STDIN) {
		x.stdin_done = true;
		conn_queue(&s.c, MSG_STDIN, NULL, 0);
	}
	if (x.pty) {
		/* Raw only now: ssh's prompts, if any, were in cooked mode. */
		sig_watch(SIGWINCH);
		set_raw();
		send_resize(&x);	/* it may have changed while connecting */
	}
	int r = relay(&x, &e);
	restore_tty();
	if (r < 0) {
		ev_free(x.ev);
		ferr_die(&e);
	}
	session_close(&s);
	/* After the close: its signals stay counted, not fatal, till then. */
	ev_free(x.ev);
	buf_release(&b);
	config_release(&cfg);
	return x.code;
}

int cmd_exec(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shell", required_argument, NULL, 's' },
		{ "env", required_argument, NULL, 'e' },
		{ "no-stdin", no_argument, NULL, 'n' },
		{ "no-login-env", no_argument, NULL, 'L' },
		{ "tty", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct exec_req req = { 0 };
	const char *shell = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+e:nth", opts, NULL)) != -1) {
		switch (c) {
		case 's': shell = optarg; break;
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				cmd_usage_die("exec", "--env wants K=V, not '%s'", optarg);
			req.env = xrealloc(req.env, (req.envc + 2) * sizeof(char *));
			req.env[req.envc++] = xstrdup(optarg);
			req.env[req.envc] = NULL;
			break;
		case 'n': req.flags |= EXEC_NO_STDIN; break;
		case 'L': req.flags |= EXEC_NO_LOGIN_ENV; break;
		case 't': req.flags |= EXEC_PTY; break;
		case 'h': cmd_usage("exec", 0); return 0;
		default: cmd_usage("exec", 1); return EXIT_USAGE;
		}
	}
	if (shell != NULL && optind != argc)
		cmd_usage_die("exec", "--shell takes the whole command as one string; unexpected '%s'", argv[optind]);
	if (shell == NULL && optind == argc)
		cmd_usage_die("exec", "missing the command to run");
	if (req.envc > PROTO_ENV_MAX || (size_t)(argc - optind) > PROTO_ARGV_MAX)
		cmd_usage_die("exec", "too many arguments (at most %d)", PROTO_ARGV_MAX);
	for (int i = optind; i < argc; i++)
		if (strlen(argv[i]) > PROTO_STR_MAX)
			cmd_usage_die("exec", "argument %d is longer than %d bytes", i - optind + 1, PROTO_STR_MAX);
	if (shell && strlen(shell) > PROTO_STR_MAX)
		cmd_usage_die("exec", "the --shell string is longer than %d bytes", PROTO_STR_MAX);
	for (uint32_t i = 0; i < req.envc; i++)
		if (strlen(req.env[i]) > PROTO_STR_MAX)
			cmd_usage_die("exec", "--env value longer than %d bytes", PROTO_STR_MAX);
	if (shell) {
		req.flags |= EXEC_SHELL;
		req.argv = xcalloc(2, sizeof(char *));
		req.argv[0] = xstrdup(shell);
		req.argc = 1;
	} else {
		req.argc = (uint32_t)(argc - optind);
		req.argv = xcalloc(req.argc + 1, sizeof(char *));
		for (uint32_t i = 0; i < req.argc; i++)
			req.argv[i] = xstrdup(argv[optind + (int)i]);
	}
	if (req.env == NULL)
		req.env = xcalloc(1, sizeof(char *));
	if ((req.flags & EXEC_PTY) && !isatty(0))
		cmd_usage_die("exec", "-t needs a terminal on stdin");
	int code = exec_run(ctx, &req);
	exec_req_release(&req);
	return code;
}

int cmd_shell(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "no-login-env", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct exec_req req = { .flags = EXEC_SHELL | EXEC_PTY };
	int c;

	req.env = xcalloc(1, sizeof(char *));
	while ((c = getopt_long(argc, argv, "+e:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=' || strlen(optarg) > PROTO_STR_MAX)
				cmd_usage_die("shell", "--env wants K=V, not '%s'", optarg);
			if (req.envc >= PROTO_ENV_MAX)
				cmd_usage_die("shell", "too many --env (at most %d)", PROTO_ENV_MAX);
			req.env = xrealloc(req.env, (req.envc + 2) * sizeof(char *));
			req.env[req.envc++] = xstrdup(optarg);
			req.env[req.envc] = NULL;
			break;
		case 'L': req.flags |= EXEC_NO_LOGIN_ENV; break;
		case 'h': cmd_usage("shell", 0); return 0;
		default: cmd_usage("shell", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("shell", "unexpected '%s' (to run a command: ferry exec -t -- CMD)", argv[optind]);
	if (!isatty(0))
		cmd_usage_die("shell", "shell needs a terminal on stdin (to run a command: ferry exec -- CMD)");
	/* The user's own login shell, in the project folder: $SHELL is the
	 * one the login environment names. */
	req.argv = xcalloc(2, sizeof(char *));
	req.argv[0] = xstrdup("exec \"${SHELL:-/bin/sh}\" -l");
	req.argc = 1;
	int code = exec_run(ctx, &req);
	exec_req_release(&req);
	return code;
}
