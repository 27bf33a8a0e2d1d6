/*
 * cmd-attach.c - `ferry attach`: this terminal becomes the job's until
 * Ctrl-] detaches.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-job.h"
#include "fwd.h"
#include "job-sup.h"
#include "sig.h"

#include "banned.h"

#define DETACH_KEY 0x1d		/* Ctrl-] */


static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		(void)tcsetattr(0, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

static void send_resize(struct session *s)
{
	uint16_t rows, cols;
	term_size(&rows, &cols);
	struct buf b;
	buf_init(&b, 4);
	buf_put_u16(&b, rows);
	buf_put_u16(&b, cols);
	if (rows && cols)
		conn_queue(&s->c, MSG_JOB_RESIZE, b.data, b.len);
	buf_release(&b);
}

static void set_raw(void)
{
	struct termios raw;
	if (tcgetattr(0, &saved_tio) < 0)
		return;
	if (!tio_saved)
		atexit(restore_tty);
	tio_saved = true;
	raw = saved_tio;
	cfmakeraw(&raw);
	(void)tcsetattr(0, TCSAFLUSH, &raw);
}

/* JOB_ATTACH's body: u32 id, u16 rows, u16 cols, u64 the log offset seen
 * up to (UINT64_MAX: none yet, the recent output first). */
static void attach_request(struct buf *b, uint32_t id, uint64_t from)
{
	uint16_t rows, cols;
	term_size(&rows, &cols);
	buf_init(b, 16);
	buf_put_u32(b, id);
	buf_put_u16(b, rows);
	buf_put_u16(b, cols);
	buf_put_u64(b, from);
}

struct attach {
	struct session *s;
	uint32_t id;
	uint64_t pos;		/* log offset of the next byte, UINT64_MAX unknown */
	bool shown;		/* the recent output was shown (banner said) */
	bool done;
	int code;
};

/* Handles the frames already buffered: the recent output can come in
 * with the hello, before anything is left to poll for. */
static void attach_frames(struct attach *a)
{
	struct session *s = a->s;
	uint16_t type;
	struct rd body;
	int fr;
	while (!a->done && (fr = conn_next(&s->c, &type, &body)) == 1) {
		if (type == MSG_JOB_OUTPUT) {
			size_t n = rd_left(&body);
			(void)print_out(rd_peek(&body), n);
			if (a->pos != UINT64_MAX)
				a->pos += n;
		} else if (type == MSG_JOB_LOG_AT) {
			/* The recent output is out: from here on, live. */
			a->pos = rd_u64(&body);
			rd_expect_end(&body);
			if (!rd_ok(&body)) {
				restore_tty();
				die(EXIT_PROTO, "malformed log position from the agent on '%s'", s->label);
			}
			if (!a->shown) {
				line_start("\r\n");
				fprintf(stderr, "ferry: attached to job %u; detach with Ctrl-]\r\n", a->id);
				a->shown = true;
			}
		} else if (type == MSG_JOB_DONE) {
			restore_tty();
			uint32_t jid;
			uint8_t state;
			int32_t jc, sig;
			if (job_done_decode(&body, &jid, &state, &jc, &sig) < 0)
				die(EXIT_PROTO, "malformed job end from the agent on '%s'", s->label);
			fprintf(stderr, "\n[job %u %s]\n", a->id, job_state_name(state));
			a->code = job_status(state, jc, sig);
			a->done = true;
		} else if (type == MSG_ERROR) {
			restore_tty();
			die_for_error(s, &body);
		} else {
			restore_tty();
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		}
	}
	if (!a->done && fr < 0) {
		restore_tty();
		die(EXIT_PROTO, "malformed frame from the agent on '%s'", s->label);
	}
}

int cmd_attach(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-forward", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	bool no_forward = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'F': no_forward = true; break;
		case 'h': cmd_usage("attach", 0); return 0;
		default: cmd_usage("attach", 1); return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		cmd_usage_die("attach", "one job at a time");
	if (!isatty(0))
		die(EXIT_USAGE, "attach needs a terminal on stdin (use `ferry logs -f%s%s` to watch)",
		    optind < argc ? " " : "", optind < argc ? argv[optind] : "");
	cmd_load_config(&cfg, ctx->dir);
	struct session s;
	bool opened;
	uint32_t *ids = resolve_jobs(&s, &opened, &cfg, "attach", argv + optind, argc - optind, PICK_RUNNING, NULL);
	uint32_t id = ids[0];
	free(ids);
	struct buf b;
	attach_request(&b, id, UINT64_MAX);
	send_request(&s, opened, &cfg, MSG_JOB_ATTACH, &b);
	buf_release(&b);

	pid_t fp = no_forward || cfg.fwd_off ? 0 : fwd_follow_start(ctx->dir, id);
	set_raw();
	sig_watch(SIGWINCH);
	sig_watch(SIGINT);	/* only while reconnecting: raw mode makes Ctrl-C a key */
	sig_ignore(SIGPIPE);
	struct attach a = { .s = &s, .id = id, .pos = UINT64_MAX };
	bool lost = false;
	for (;;) {
		attach_frames(&a);
		if (a.done)
			break;
		if (lost) {
			/* Cooked again meanwhile, so that Ctrl-C stops us. */
			restore_tty();
			attach_request(&b, id, a.pos);
			int r = relink(&s, &cfg, MSG_JOB_ATTACH, &b, "\n");
			buf_release(&b);
			if (r) {
				a.code = still_running(&id, 1, "\n");
				break;
			}
			set_raw();
			lost = false;
			continue;
		}
		struct pollfd p[4] = {
			{ .fd = 0, .events = POLLIN },
			{ .fd = s.c.rfd, .events = POLLIN },
			{ .fd = sig_fd(), .events = POLLIN },
			{ .fd = s.proc.err, .events = POLLIN },
		};
		if (s.c.out.len && conn_flush(&s.c) < 0) {
			lost = true;
			continue;
		}
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents) {
			sig_drain();
			if (sig_take(SIGWINCH))
				send_resize(&s);
			(void)sig_take(SIGINT);
		}
		if (p[3].revents)
			session_read_stderr(&s);
		if (p[0].revents) {
			uint8_t in[4096];
			ssize_t n = read(0, in, sizeof(in));
			if (n <= 0)
				break;
			uint8_t *k = memchr(in, DETACH_KEY, (size_t)n);
			if (k) {
				if (k > in)
					conn_queue(&s.c, MSG_JOB_INPUT, in, (size_t)(k - in));
				(void)conn_flush(&s.c);
				restore_tty();
				fprintf(stderr, "\n[detached from job %u: `ferry attach %u` to come back]\n", id, id);
				break;
			}
			conn_queue(&s.c, MSG_JOB_INPUT, in, (size_t)n);
		}
		if (p[1].revents) {
			int r = conn_fill(&s.c);
			if (r == 0 || (r < 0 && r != -EAGAIN)) {
				attach_frames(&a);	/* the last words first */
				lost = !a.done;
			}
		}
	}
	restore_tty();
	fwd_follow_stop(fp);
	session_close(&s);
	config_release(&cfg);
	return a.code;
}
