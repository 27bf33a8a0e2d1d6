/*
 * agent.c - the agent's session loop, its channels and the request table.
 *
 * The session runs on one event loop (ev.c).  Requests that stream (exec,
 * monitoring, logs -f, wait, attach) are handlers bound to a channel and
 * live on the loop's callbacks, so several run at once.  Sequential
 * conversations (the sync, the short request-replies) run as they always
 * did, on channel 0, inside one loop callback: the conn's hooks divert
 * other channels' frames to their handlers and turn the loop while the
 * conversation waits, so a monitor stream or a log follow keeps flowing
 * during a push.  docs/event-loop.md has the limits.
 *
 * The agent trusts nothing it reads: every frame is decoded through the
 * reader; anything malformed on channel 0 or in the framing gets an ERROR
 * frame and ends the session, on another channel it ends that channel.
 * It never writes to stderr during a session except for bugs: stderr
 * belongs to ssh.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env-login.h"
#include "ev.h"
#include "fsx.h"
#include "job-sup.h"
#include "limits.h"
#include "sig.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

struct agent {
	struct ev_loop *ev;
	struct conn c;
	struct achan ch[CHAN_OPEN_MAX + 1];	/* [0] is channel 0, always open */
	struct conn_hooks hooks;	/* while a sequential conversation runs */
	bool seq;			/* one does */
	short seq_wait;			/* what it waits for: POLLIN, POLLOUT */
	int children;			/* handlers that want SIGCHLD */
	pid_t orphans[CHAN_OPEN_MAX];	/* commands hung up, to reap */
	int norphans;
	bool sigchld;			/* SIGCHLD is watched */
	unsigned rr;			/* the channel pumped first next turn */
	bool over;			/* the session ends */
	int code;
};

/* Requests on the loop, on any channel. */
static const struct {
	uint16_t type;
	int (*start)(struct achan *, struct rd *);
} streams[] = {
	{ MSG_EXEC, agent_exec_start },
	{ MSG_MON_REQ, agent_mon_start },
	{ MSG_JOB_LOGS, agent_job_logs_start },
	{ MSG_JOB_WAIT, agent_job_wait_start },
	{ MSG_JOB_ATTACH, agent_job_attach_start },
	{ MSG_FWD_OPEN, agent_fwd_open_start },
	{ MSG_FWD_WATCH, agent_fwd_watch_start },
};

/* Sequential conversations, on channel 0. */
static const struct {
	uint16_t type;
	int (*fn)(struct conn *, struct rd *);
} requests[] = {
	{ MSG_INFO, agent_info },
	{ MSG_FILE_GET, agent_file_get },
	{ MSG_SYNC_BEGIN, agent_sync },
	{ MSG_JOB_START, agent_job_start },
	{ MSG_JOB_LIST, agent_job_list },
	{ MSG_JOB_KILL, agent_job_kill },
	{ MSG_JOB_RM, agent_job_rm },
	{ MSG_MON_KILL, agent_mon_kill },
};

/* An ERROR frame's body in b (buf_init'ed here); the message, to free. */
static char *error_body(struct buf *b, uint32_t code, const char *fmt, va_list ap)
{
	char *m = xvasprintf(fmt, ap);
	buf_init(b, FRAME_MAX);
	error_encode(code, m, b);
	return m;
}

void agent_error(struct conn *c, uint32_t code, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	va_start(ap, fmt);
	char *m = error_body(&b, code, fmt, ap);
	va_end(ap);
	conn_queue(c, MSG_ERROR, b.data, b.len);
	buf_release(&b);
	free(m);
}

char *agent_root_path(const char *root)
{
	if (root[0] == '/')
		return xstrdup(root);
	char *home = user_home();
	if (strcmp(root, "~") == 0)
		return home;
	if (strncmp(root, "~/", 2) == 0)
		root += 2;
	char *p = xasprintf("%s/%s", strcmp(home, "/") == 0 ? "" : home, root);
	free(home);
	return p;
}

void agent_chdir_login(const char *dir)
{
	if (dir[0] == '/' && chdir(dir) == 0)
		return;
	char *home = user_home();
	if (chdir(home) < 0)
		(void)chdir("/");
	free(home);
}

static int handshake(struct conn *c)
{
	uint16_t type;
	struct rd body;
	struct hello peer, me;
	struct buf b;
	int r = conn_read(c, &type, &body);

	if (r <= 0)
		return -1;
	if (type != MSG_HELLO || hello_decode(&body, &peer) < 0) {
		agent_error(c, PERR_PROTOCOL, "expected a hello frame");
		return -1;
	}
	hello_init_self(&me);
	/* The highest version both speak. */
	uint16_t v = peer.version_max < me.version_max ? peer.version_max : me.version_max;
	if (v < peer.version_min || v < me.version_min) {
		agent_error(c, PERR_VERSION, "no common protocol version (agent %u-%u, client %u-%u)",
			    me.version_min, me.version_max, peer.version_min, peer.version_max);
		hello_release(&peer);
		hello_release(&me);
		return -1;
	}
	me.version_min = me.version_max = v;
	me.wall_ns = now_wall_ns();
	c->chans = (peer.caps & me.caps & CAP_CHANNELS) != 0;
	buf_init(&b, FRAME_MAX);
	hello_encode(&me, &b);
	conn_queue(c, MSG_HELLO, b.data, b.len);
	buf_release(&b);
	hello_release(&peer);
	hello_release(&me);
	return 0;
}

/* Old versions of large files a push replaced, held open so that the
 * filesystem frees them after the reply, not while the client waits. */
void agent_defer_close(struct agent_later *l, int fd)
{
	if (l->nfds < DROP_DEFER_MAX)
		l->fds[l->nfds++] = fd;
	else
		close(fd);
}

void agent_sync_later(struct agent_later *l, const char *file)
{
	free(l->to_sync);
	l->to_sync = xstrdup(file);
}

static void fsync_path(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The index named by agent_sync_later, its log and its folder. */
static void sync_index_files(const char *file)
{
	if (file == NULL)
		return;
	char *log = xasprintf("%s.log", file), *dir = xstrdup(file), *slash = strrchr(dir, '/');
	fsync_path(file, 0);
	fsync_path(log, 0);
	if (slash)
		*slash = '\0';
	fsync_path(dir, O_DIRECTORY);
	free(log);
	free(dir);
}

/* In the dropping process: every fd of the agent's but the held files.
 * Above all the root's sync lock (flock belongs to every copy of the
 * fd: the next sync would wait for our fsync) and the session's pipes. */
static void close_all_but(const struct agent_later *l)
{
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > DROP_FD_SCAN_MAX)
		max = DROP_FD_SCAN_MAX;
	for (int fd = 3; fd < max; fd++) {
		bool held = false;
		for (size_t i = 0; i < l->nfds && !held; i++)
			held = l->fds[i] == fd;
		if (!held)
			(void)close(fd);
	}
}

/* Hands the held files to a grandchild (reaped by init, so no zombie
 * waits for this loop) that frees them and fsyncs the index, detached
 * from the session's pipes: the client, whose reply is out, waits for
 * neither.  The next sync of the session starts at once. */
void agent_later_run(struct agent_later *l)
{
	if (l->nfds == 0 && l->to_sync == NULL)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		(void)setsid();
		close_all_but(l);
		for (size_t i = 0; i < l->nfds; i++)
			close(l->fds[i]);
		sync_index_files(l->to_sync);
		_exit(0);
	}
	if (pid > 0) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	} else {
		sync_index_files(l->to_sync);	/* no child: now, as before */
	}
	/* Our copies go now; the grandchild's keep the files. */
	for (size_t i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	l->nfds = 0;
	free(l->to_sync);
	l->to_sync = NULL;
}

/* ---- channels, for the handlers ---- */

struct ev_loop *achan_ev(const struct achan *x)
{
	return x->a->ev;
}

struct conn *achan_conn(const struct achan *x)
{
	return &x->a->c;
}

bool achan_room(struct achan *x)
{
	bool room = chan_room(&x->ch);
	x->want_room = !room;
	return room;
}

int achan_queue(struct achan *x, uint16_t type, const void *p, size_t n)
{
	return chan_queue(&x->ch, type, p, n);
}

void achan_error(struct achan *x, uint32_t code, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	va_start(ap, fmt);
	char *m = error_body(&b, code, fmt, ap);
	va_end(ap);
	/* After what the request queued, whatever the room: it is the
	 * last frame (a full queue has a frame's slack past its mark). */
	if (frame_put_ch(&x->ch.out, x->ch.id, MSG_ERROR, b.data, b.len) < 0) {
		if (x->ch.id == 0)
			conn_queue_ch(&x->a->c, 0, MSG_ERROR, b.data, b.len);
		else
			chan_reset(&x->ch, &x->a->c, code, m);
	}
	buf_release(&b);
	free(m);
}

void achan_consumed(struct achan *x, size_t n)
{
	chan_consumed(&x->ch, &x->a->c, n);
}

void achan_reset(struct achan *x, uint32_t code, const char *msg)
{
	chan_reset(&x->ch, &x->a->c, code, msg);
	achan_done(x);
}

void achan_scratch(struct achan *x, struct conn *s)
{
	conn_init(s, -1, -1);
	s->tx_chan = x->ch.id;
}

void achan_take(struct achan *x, struct conn *s)
{
	/* Whole frames, past the room if need be: the queue's slack is a
	 * frame, and these are one record or notice at a time. */
	if (s->out.len && buf_put(&x->ch.out, s->out.data, s->out.len) < 0)
		chan_reset(&x->ch, &x->a->c, PERR_INTERNAL, "channel queue overflow");
	conn_release(s);
}

/* Commands whose request was stopped before they ended. */
static void reap_orphans(struct agent *a)
{
	for (int i = 0; i < a->norphans;) {
		if (waitpid(a->orphans[i], NULL, WNOHANG) != 0)
			a->orphans[i] = a->orphans[--a->norphans];
		else
			i++;
	}
}

/* SIGCHLD is watched only while someone waits for a child: it interrupts
 * the blocking calls of the sequential conversations. */
static void sigchld_interest(struct agent *a);

static void on_sigchld(struct ev_loop *ev, int signo, int count, void *arg)
{
	struct agent *a = arg;
	for (int i = 0; i <= CHAN_OPEN_MAX; i++)
		if (a->ch[i].ops && a->ch[i].children && a->ch[i].ops->child)
			a->ch[i].ops->child(&a->ch[i]);
	reap_orphans(a);
	sigchld_interest(a);
}

static void sigchld_interest(struct agent *a)
{
	bool want = a->children > 0 || a->norphans > 0;
	if (want && !a->sigchld)
		ev_sig_add(a->ev, SIGCHLD, on_sigchld, a);
	else if (!want && a->sigchld)
		ev_sig_del(a->ev, SIGCHLD);
	a->sigchld = want;
}

void achan_children(struct achan *x, bool on)
{
	struct agent *a = x->a;
	if (on == x->children)
		return;
	x->children = on;
	a->children += on ? 1 : -1;
	sigchld_interest(a);
}

void achan_reap_later(struct achan *x, pid_t pid)
{
	struct agent *a = x->a;
	if (a->norphans == CHAN_OPEN_MAX)
		reap_orphans(a);
	/* Still full: the kernel's init reaps them after our exit. */
	if (a->norphans < CHAN_OPEN_MAX)
		a->orphans[a->norphans++] = pid;
	reap_orphans(a);
	sigchld_interest(a);
}

void achan_done(struct achan *x)
{
	if (x->children)
		achan_children(x, false);
	x->ops = NULL;
	x->st = NULL;
	x->want_room = false;
	if (x->ch.id != 0)
		chan_close(&x->ch);
}

/* Stops x's handler without a word (reset, session over). */
static void achan_stop(struct achan *x)
{
	if (x->ops == NULL)
		return;
	x->ops->stop(x);
	achan_done(x);
}

/* ---- the session ---- */

static void session_error(struct agent *a, const char *msg)
{
	achan_error(&a->ch[0], PERR_PROTOCOL, "%s", msg);
	a->code = 1;
	a->over = true;
}

static struct achan *find_chan(struct agent *a, uint16_t id)
{
	if (id == 0)
		return &a->ch[0];
	for (int i = 1; i <= CHAN_OPEN_MAX; i++)
		if (a->ch[i].used && a->ch[i].ch.id == id)
			return &a->ch[i];
	return NULL;
}

static struct achan *open_chan(struct agent *a, uint16_t id)
{
	for (int i = 1; i <= CHAN_OPEN_MAX; i++) {
		struct achan *x = &a->ch[i];
		if (x->used)
			continue;
		memset(x, 0, sizeof(*x));
		x->a = a;
		x->used = true;
		chan_init(&x->ch, id);
		return x;
	}
	return NULL;
}

static void forget_done(struct agent *a)
{
	for (int i = 1; i <= CHAN_OPEN_MAX; i++) {
		struct achan *x = &a->ch[i];
		if (x->used && x->ops == NULL && chan_done(&x->ch)) {
			chan_release(&x->ch);
			x->used = false;
		}
	}
}

/* Channel 0's leftovers go out before a sequential conversation writes
 * to the conn directly. */
static int drain_chan0(struct agent *a)
{
	while (!chan_idle(&a->ch[0].ch)) {
		chan_pump(&a->ch[0].ch, &a->c);
		if (conn_flush(&a->c) < 0)
			return -1;
	}
	return 0;
}

static void run_sequential(struct agent *a, int (*fn)(struct conn *, struct rd *), struct rd *body)
{
	if (drain_chan0(a) < 0) {
		a->over = true;
		return;
	}
	a->seq = true;
	a->c.hooks = &a->hooks;
	int r = fn(&a->c, body);
	a->c.hooks = NULL;
	a->seq = false;
	if (r < 0) {
		a->code = 1;
		a->over = true;
	}
}

/* A request on x, which has none running.  A start that fails has
 * cleaned up after itself and queued an ERROR. */
static void start_request(struct agent *a, struct achan *x, uint16_t type, struct rd *body)
{
	x->started = true;
	for (size_t i = 0; i < ARRAY_LEN(streams); i++) {
		if (streams[i].type != type)
			continue;
		if (streams[i].start(x, body) < 0) {
			achan_stop(x);
			if (x->ch.id == 0) {
				a->code = 1;
				a->over = true;
			} else {
				achan_done(x);
			}
		}
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(requests); i++) {
		if (requests[i].type != type)
			continue;
		if (x->ch.id == 0)
			run_sequential(a, requests[i].fn, body);
		else
			chan_reset(&x->ch, &a->c, PERR_PROTOCOL, "this request runs on channel 0 only");
		return;
	}
	char *m = xasprintf("unexpected message type 0x%04x", type);
	if (x->ch.id == 0)
		session_error(a, m);
	else
		chan_reset(&x->ch, &a->c, PERR_PROTOCOL, m);
	free(m);
}

static void dispatch0(struct agent *a, uint16_t type, struct rd *body);

/* A frame for x's running request. */
static void to_handler(struct agent *a, struct achan *x, uint16_t type, struct rd *body)
{
	int r = x->ops->frame(x, type, body);
	if (r == 1 && x->ch.id == 0)
		dispatch0(a, type, body);
	if (r >= 0)
		return;
	achan_stop(x);
	if (x->ch.id == 0) {
		a->code = 1;
		a->over = true;
	}
}

static void dispatch0(struct agent *a, uint16_t type, struct rd *body)
{
	struct achan *x = &a->ch[0];
	if (type == MSG_CHAN_WINDOW || type == MSG_CHAN_CLOSE || type == MSG_CHAN_RESET) {
		session_error(a, "channel control on channel 0");
		return;
	}
	if (x->ops) {
		to_handler(a, x, type, body);
		return;
	}
	/* Input and signals for a command that already ended race with
	 * its EXIT frame, a stop with the end of a monitoring stream: they
	 * are dropped, not errors. */
	if (type == MSG_STDIN || type == MSG_SIGNAL || type == MSG_CLOSE_STDOUT || type == MSG_MON_STOP)
		return;
	start_request(a, x, type, body);
}

static void dispatch(struct agent *a, uint16_t chan, uint16_t type, struct rd *body)
{
	if (chan == 0) {
		dispatch0(a, type, body);
		return;
	}
	struct achan *x = find_chan(a, chan);
	bool ctl = type == MSG_CHAN_WINDOW || type == MSG_CHAN_CLOSE || type == MSG_CHAN_RESET;
	/* A channel whose ends both came is over, even before the turn's
	 * forget_done: a new request may reuse its id in the same read. */
	if (x && !ctl && x->ops == NULL && chan_done(&x->ch)) {
		chan_release(&x->ch);
		x->used = false;
		x = NULL;
	}
	if (x == NULL && ctl)
		return;		/* for a channel already forgotten */
	if (x == NULL && (x = open_chan(a, chan)) == NULL) {
		forget_done(a);
		x = open_chan(a, chan);
	}
	if (x == NULL) {
		struct chan busy;
		chan_init(&busy, chan);
		chan_reset(&busy, &a->c, PERR_BUSY, "too many channels open");
		chan_release(&busy);
		return;
	}
	size_t n = rd_left(body);
	int r = chan_recv(&x->ch, type, body, NULL, NULL);
	if (r < 0) {
		achan_stop(x);
		chan_reset(&x->ch, &a->c, PERR_PROTOCOL, "frame past the channel's window or end");
	} else if (r == CHAN_RX_RESET) {
		achan_stop(x);
		chan_abandon(&x->ch);	/* nobody reads what was queued */
	} else if (r == CHAN_RX_CLOSE) {
		if (x->ops && x->ops->peer_end)
			x->ops->peer_end(x);
	} else if (r == CHAN_RX_DATA) {
		if (!x->own_window || x->ops == NULL)
			chan_consumed(&x->ch, &a->c, n);
		if (x->ops)
			to_handler(a, x, type, body);
		else if (!x->started)
			start_request(a, x, type, body);
		/* else: crossed the end of its request, dropped */
	}
}

/* Handles every whole frame buffered (none of channel 0's while a
 * sequential conversation runs: they are its). */
static void take_input(struct agent *a)
{
	uint16_t type;
	struct rd body;
	while (!a->over) {
		int r = conn_next(&a->c, &type, &body);
		if (r == 0)
			return;
		if (r < 0) {
			session_error(a, "oversize or malformed frame header");
			return;
		}
		dispatch(a, a->c.chan, type, &body);
	}
}

static int divert(struct conn *c, uint16_t chan, uint16_t type, struct rd *body, void *arg)
{
	struct agent *a = arg;
	dispatch(a, chan, type, body);
	return a->over ? -EPIPE : 0;
}

/* A sequential conversation waits: the loop turns meanwhile. */
static int seq_wait(struct conn *c, short events, void *arg)
{
	struct agent *a = arg;
	a->seq_wait = events;
	int r = ev_once(a->ev, -1);
	a->seq_wait = 0;
	if (a->over)
		return -EPIPE;
	return r < 0 ? r : 0;
}

static void on_link_read(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct agent *a = arg;
	int r = conn_fill(&a->c);
	/* A conversation's conn_read looks at what came itself. */
	if (a->seq)
		return;
	take_input(a);
	if (r == 0 && !a->over) {
		/* The client closed the session: a cut frame is its error. */
		if (a->c.in.len)
			session_error(a, "truncated frame at end of stream");
		a->over = true;
	} else if (r < 0 && r != -EAGAIN) {
		a->over = true;
	}
}

static void on_link_write(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct agent *a = arg;
	if (conn_flush_some(&a->c) < 0) {
		a->over = true;
		a->c.out.len = 0;	/* nobody to write to */
	}
}

/* Before each poll: channels' frames into the conn, room callbacks for
 * the producers that waited for it, the link's interest. */
/* Channels' frames into the conn (room callbacks for the producers that
 * waited for it, then what they made). */
static void pump_all(struct agent *a)
{
	for (int k = 0; k < 2; k++) {
		for (int j = 0; j <= CHAN_OPEN_MAX; j++) {
			struct achan *x = &a->ch[(a->rr + (unsigned)j) % (CHAN_OPEN_MAX + 1)];
			if (x->used)
				chan_pump(&x->ch, &a->c);
		}
		for (int i = 0; k == 0 && i <= CHAN_OPEN_MAX; i++) {
			struct achan *x = &a->ch[i];
			if (x->ops && x->want_room && chan_room(&x->ch)) {
				x->want_room = false;
				x->ops->room(x);
			}
		}
	}
}

/* Before each poll: channels' frames into the conn, and out at once
 * rather than after a poll for POLLOUT (a forwarded answer goes one
 * wake-up sooner).  When that write took everything, the channels are
 * pumped again: what the conn's high mark held back must either go in
 * now or wait for POLLOUT, never for nothing. */
static void before_poll(struct ev_loop *ev, void *arg)
{
	struct agent *a = arg;
	pump_all(a);
	a->rr++;		/* fairness: no channel always first */
	if (a->c.out.len && conn_flush_some(&a->c) < 0) {
		a->over = true;
		a->c.out.len = 0;
	}
	if (!a->over && a->c.out.len == 0)
		pump_all(a);
	forget_done(a);
	if (a->c.out.len)
		ev_fd_add(ev, a->c.wfd, EV_WRITE, on_link_write, a);
	else
		ev_fd_del(ev, a->c.wfd, EV_WRITE);
	/* A conversation's read of its next frame, or nothing while it only
	 * flushes (its last frame's view must stay put). */
	if (!a->over && (!a->seq || (a->seq_wait & POLLIN)) && !a->c.eof)
		ev_fd_add(ev, a->c.rfd, EV_READ, on_link_read, a);
	else
		ev_fd_del(ev, a->c.rfd, EV_READ);
}

static void agent_end(struct agent *a)
{
	for (int i = 0; i <= CHAN_OPEN_MAX; i++)
		achan_stop(&a->ch[i]);
	/* What is queued goes out, as far as the windows allow. */
	for (int i = 0; i <= CHAN_OPEN_MAX; i++)
		if (a->ch[i].used)
			chan_pump(&a->ch[i].ch, &a->c);
	(void)conn_flush(&a->c);
	for (int i = 0; i <= CHAN_OPEN_MAX; i++)
		if (a->ch[i].used)
			chan_release(&a->ch[i].ch);
	ev_free(a->ev);
}

int agent_main(void)
{
	struct agent a = { .code = 0 };

	sig_ignore(SIGPIPE);
	conn_init(&a.c, 0, 1);
	fd_nonblock(0);
	fd_nonblock(1);
	if (write_all(1, PROTO_PREAMBLE, PROTO_PREAMBLE_LEN) < 0) {
		conn_release(&a.c);
		return 1;
	}
	if (handshake(&a.c) < 0) {
		(void)conn_flush(&a.c);
		conn_release(&a.c);
		return 1;
	}
	(void)conn_flush(&a.c);	/* our hello first */
	agent_prune_versions();
	a.ev = ev_new();
	a.hooks = (struct conn_hooks){ .divert = divert, .wait = seq_wait, .arg = &a, .chan = 0 };
	a.ch[0] = (struct achan){ .a = &a, .used = true };
	chan_init(&a.ch[0].ch, 0);
	ev_set_before(a.ev, before_poll, &a);
	/* Requests pipelined behind the hello are already buffered. */
	take_input(&a);
	while (!a.over)
		if (ev_once(a.ev, -1) < 0)
			break;
	agent_end(&a);
	conn_release(&a.c);
	return a.code;
}

int agent_entry(int argc, char **argv)
{
	exe_hold_shared();
	if (argc == 1)
		return agent_main();
	if (argc == 3 && strcmp(argv[1], "--cwd") == 0) {
		agent_chdir_login(argv[2]);
		return agent_main();
	}
	if (argc == 2 && strcmp(argv[1], "--build-id") == 0) {
		printf("%s\n", ferry_build_id());
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--dump-env") == 0)
		return loginenv_dump_self() < 0 ? 1 : 0;
	if (argc == 3 && strcmp(argv[1], "supervise") == 0)
		return job_supervise(argv[2], -1);
	fprintf(stderr, "usage: ferry agent [--cwd DIR | --build-id | --dump-env | supervise JOBDIR]\n"
		"(the agent speaks ferry's protocol on stdin/stdout; the client starts it)\n");
	return EXIT_USAGE;
}
