/*
 * fwd.c - the client's end of forwarding (fwd.h, docs/forward.md).
 *
 * Every accepted connection is a channel: FWD_OPEN goes out at once, with
 * whatever the laptop's side writes right behind it (the agent holds it
 * until its own connection is up), so a new connection costs no extra
 * round trip.  The window is granted back as bytes are written to the
 * local socket: a browser that reads slowly slows the server's sender,
 * not the other channels.  The job ports come on one more channel
 * (FWD_WATCH); each is given a listener of its own, at the same port
 * number on the laptop when that is free.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "chan.h"
#include "cmd-job.h"
#include "ev.h"
#include "fsx.h"
#include "fwd-url.h"
#include "fwd.h"
#include "limits.h"
#include "mon-fmt.h"
#include "platform.h"
#include "session.h"
#include "sig.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

#define WATCH_CHAN	1	/* the job ports' channel; connections use the others */
#define LISTEN_BACKLOG	128
#define PRINTED_MAX	256	/* URLs remembered as said */
#define STATUS_MS	1000	/* the --list file is rewritten at most this often */
#define ACCEPT_PAUSE_MS	200	/* out of fds: how long the listeners rest */
#define FOLLOW_STOP_MS	2000	/* a follower that does not end on TERM is killed */

struct fwd;

struct fwd_lis {
	struct fwd *f;		/* its forward, for the accept callback */
	int fd[2];
	int nfd;
	uint16_t lport;		/* what it is bound to */
	struct fwd_open to;	/* the server's end */
	char *label;		/* the server's end, for people */
	char *job;		/* an automatic forward's job, else NULL */
	uint16_t rport;		/* ... and its port there */
	bool gone;		/* closed: freed with its last connection */
	bool seen;		/* announced again since a reconnect */
	bool warned;		/* a refusal said since the last success */
	int refs;		/* connections of it still open */
	uint64_t conns, in, out;
};

struct fwd_conn {
	uint16_t id;
	struct chan ch;
	int fd;			/* the laptop's socket; -1 once closed */
	struct fwd_lis *lis;
	struct buf out;		/* the agent's bytes for fd */
	bool ready;		/* FWD_READY came */
	bool l_eof;		/* fd ended: we sent CHAN_CLOSE */
	bool a_eof;		/* the agent sent CHAN_CLOSE */
	bool shut;		/* ... and we passed it on */
};

struct fwd {
	const struct config *cfg;
	const struct fwd_opts *o;
	struct session s;
	bool linked;
	struct ev_loop *ev;
	struct fwd_lis **lis;
	size_t nlis, nauto;
	struct fwd_conn *conn[CHAN_OPEN_MAX];
	size_t nconn;
	uint16_t next_id;
	unsigned rr;
	struct chan watch;
	bool watching, synced, job_over;
	char *printed[PRINTED_MAX];
	size_t nprinted;
	bool lost, stop, full_said, many_said;
	bool full;		/* at the channel cap: listeners not read */
	bool fds_said, synced_ever, watch_failed;
	uint64_t pause_until;	/* out of fds: listeners rest until then */
	uint64_t said_ns;	/* the port lines' budget, refilled from then */
	unsigned said_left, said_dropped;
	pid_t parent;
	char *status_path;
	bool status_dirty;
};

/* ---- saying things ---- */

/* A line on stderr; on a terminal in raw mode (`ferry attach`), \r\n. */
static void say(struct fwd *f, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void say(struct fwd *f, const char *fmt, ...)
{
	struct termios t;
	const char *nl = f->o->nl ? f->o->nl : "\n";
	if (isatty(2) && tcgetattr(2, &t) == 0 && !(t.c_oflag & OPOST))
		nl = "\r\n";
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "ferry: %s%s", m, nl);
	fflush(stderr);
	free(m);
}

/* The lines about the jobs' ports: at most SAY_BURST every SAY_PERIOD_NS
 * (a server that restarts in a loop, or an agent that floods, cannot
 * fill the terminal); what was held back is counted once the budget
 * comes back. */
#define SAY_BURST	40
#define SAY_PERIOD_NS	10000000000ull

static bool port_say_ok(struct fwd *f)
{
	uint64_t now = now_mono_ns();
	if (f->said_ns == 0 || now - f->said_ns >= SAY_PERIOD_NS) {
		f->said_ns = now;
		f->said_left = SAY_BURST;
		if (f->said_dropped) {
			say(f, "(%u lines about ports were not shown: they changed too often)", f->said_dropped);
			f->said_dropped = 0;
		}
	}
	if (f->said_left == 0) {
		f->said_dropped++;
		return false;
	}
	f->said_left--;
	return true;
}

/* ---- specs ---- */

void fwd_spec_release(struct fwd_spec *sp)
{
	fwd_open_release(&sp->to);
	free(sp->label);
	memset(sp, 0, sizeof(*sp));
}

static int port_parse(const char *s, size_t n, uint16_t *port)
{
	unsigned v = 0;
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static bool host_ok(const char *h)
{
	if (*h == '\0' || strlen(h) > FWD_HOST_MAX)
		return false;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		      *h == '.' || *h == '-' || *h == ':' || *h == '_'))
			return false;
	return true;
}

int fwd_spec_parse(const char *arg, struct fwd_spec *sp, char **err)
{
	memset(sp, 0, sizeof(*sp));
	const char *rest = arg, *colon = strchr(arg, ':');
	/* A leading number followed by more is the local port. */
	if (colon && port_parse(arg, (size_t)(colon - arg), &sp->lport) == 0 && colon[1])
		rest = colon + 1;
	else
		colon = NULL;
	if (rest[0] == '/') {
		if (strlen(rest) >= FWD_UNIX_PATH_MAX) {
			*err = xasprintf("'%s': a Unix socket path is at most %d bytes", vis(rest), FWD_UNIX_PATH_MAX - 1);
			return -1;
		}
		if (colon == NULL) {
			*err = xasprintf("'%s': a Unix socket needs a local port (9000:%s)", vis(arg), vis(rest));
			return -1;
		}
		sp->to.kind = FWD_UNIX;
		sp->to.host = xstrdup("");
		sp->to.path = xstrdup(rest);
		sp->label = xstrdup(rest);
		return 0;
	}
	sp->to.kind = FWD_TCP;
	sp->to.path = xstrdup("");
	uint16_t port;
	if (port_parse(rest, strlen(rest), &port) == 0) {
		sp->to.port = port;
		sp->to.host = xstrdup("");
	} else {
		/* HOST:PORT, [V6]:PORT */
		const char *pc = strrchr(rest, ':');
		char *host = NULL;
		if (pc && port_parse(pc + 1, strlen(pc + 1), &port) == 0) {
			if (rest[0] == '[' && pc > rest + 1 && pc[-1] == ']')
				host = xstrndup(rest + 1, (size_t)(pc - rest - 2));
			else if (memchr(rest, ':', (size_t)(pc - rest)) == NULL)
				host = xstrndup(rest, (size_t)(pc - rest));
		}
		if (host == NULL || !host_ok(host)) {
			free(host);
			fwd_spec_release(sp);
			*err = xasprintf("'%s' is not a forward: PORT, LOCAL:PORT, [LOCAL:]HOST:PORT or LOCAL:/SOCKET",
					 vis(arg));
			return -1;
		}
		sp->to.port = port;
		if (strcmp(host, "localhost") == 0) {
			sp->to.host = xstrdup("");
			free(host);
		} else {
			sp->to.host = host;
			sp->to.flags = FWD_NAMED_HOST;
		}
	}
	if (sp->lport == 0)
		sp->lport = sp->to.port;
	const char *h = sp->to.host[0] ? sp->to.host : "localhost";
	sp->label = strchr(h, ':') ? xasprintf("[%s]:%u", h, sp->to.port) : xasprintf("%s:%u", h, sp->to.port);
	return 0;
}

/* ---- listeners ---- */

static int listen_one(int fam, const void *ip, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, ip, 4);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, ip, 16);
		len = sizeof(*s6);
	}
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Why a listener is not on the port asked for (lis_bind's two cases). */
static const char *moved_why(uint16_t want)
{
	return want < 1024 && geteuid() != 0 ? "needs root" : "is taken";
}

/* Binds want, or the next free port: 0 with l's fds and port, -EADDRINUSE
 * when all were taken, another -errno when the address is unusable. */
static int lis_bind(struct fwd_lis *l, const char *bind_addr, uint16_t want)
{
	static const uint8_t v4lo[4] = { 127, 0, 0, 1 };
	uint8_t ip[16];
	int fam = 0;
	if (bind_addr) {
		if (inet_pton(AF_INET, bind_addr, ip) == 1)
			fam = AF_INET;
		else if (inet_pton(AF_INET6, bind_addr, ip) == 1)
			fam = AF_INET6;
		else
			return -EINVAL;
	}
	for (unsigned t = 0; t <= FWD_LOCAL_TRIES && want + t <= 65535; t++) {
		uint16_t p = (uint16_t)(want + t);
		int fd = fam ? listen_one(fam, ip, p) : listen_one(AF_INET, v4lo, p);
		if (fd == -EACCES && t == 0 && want < 1024) {
			/* A privileged port here: one the kernel picks, said. */
			want = 0;
			t = (unsigned)-1;
			continue;
		}
		if (fd == -EADDRINUSE)
			continue;
		if (fd < 0)
			return fd;
		if (p == 0) {
			/* The kernel's pick, for ::1 as for 127.0.0.1. */
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
				p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
		l->fd[0] = fd;
		l->nfd = 1;
		if (fam == 0) {
			int fd6 = listen_one(AF_INET6, &in6addr_loopback, p);
			if (fd6 == -EADDRINUSE) {
				close(fd);
				l->nfd = 0;
				continue;
			}
			if (fd6 >= 0)
				l->fd[l->nfd++] = fd6;
			/* else: no IPv6 here; 127.0.0.1 alone. */
		}
		l->lport = p;
		return 0;
	}
	return -EADDRINUSE;
}

static void on_accept(struct ev_loop *ev, int fd, int mask, void *arg);


/* Only wakes the loop: before_poll reads the listeners again. */
static int64_t on_pause_end(struct ev_loop *ev, uint64_t id, void *arg)
{
	return EV_TIMER_END;
}	/* for the listeners' callbacks */

static void lis_close(struct fwd *f, struct fwd_lis *l)
{
	for (int i = 0; i < l->nfd; i++) {
		ev_fd_del(f->ev, l->fd[i], EV_READ);
		close(l->fd[i]);
	}
	l->nfd = 0;
	l->gone = true;
}

static void lis_free_if_done(struct fwd *f, struct fwd_lis *l)
{
	if (!l->gone || l->refs > 0)
		return;
	for (size_t i = 0; i < f->nlis; i++) {
		if (f->lis[i] != l)
			continue;
		f->lis[i] = f->lis[--f->nlis];
		break;
	}
	if (l->job)
		f->nauto--;
	fwd_open_release(&l->to);
	free(l->label);
	free(l->job);
	free(l);
	f->status_dirty = true;
}

static struct fwd_lis *lis_add(struct fwd *f, const struct fwd_open *to, const char *label, uint16_t want,
			       bool automatic, int *err)
{
	struct fwd_lis *l = xcalloc(1, sizeof(*l));
	l->f = f;
	*err = lis_bind(l, automatic ? NULL : f->o->bind, want);
	if (*err < 0) {
		free(l);
		return NULL;
	}
	l->to.kind = to->kind;
	l->to.flags = to->flags;
	l->to.host = xstrdup(to->host ? to->host : "");
	l->to.port = to->port;
	l->to.path = xstrdup(to->path ? to->path : "");
	l->label = xstrdup(label);
	for (int i = 0; i < l->nfd && !f->full; i++)
		ev_fd_add(f->ev, l->fd[i], EV_READ, on_accept, l);
	f->lis = xrealloc(f->lis, (f->nlis + 1) * sizeof(*f->lis));
	f->lis[f->nlis++] = l;
	f->status_dirty = true;
	return l;
}

/* Where a listener is: --bind for the forwards named, loopback for the
 * jobs' own (a port a job opens is never put on every interface unless
 * named). */
static const char *here_for(const struct fwd *f, const struct fwd_lis *l)
{
	return f->o->bind && !(l && l->job) ? f->o->bind : "127.0.0.1";
}

static const char *here(const struct fwd *f)
{
	return here_for(f, NULL);
}

/* ---- connections ---- */

static void conn_free(struct fwd *f, size_t i)
{
	struct fwd_conn *c = f->conn[i];
	if (c->fd >= 0) {
		ev_fd_del(f->ev, c->fd, EV_READ | EV_WRITE);
		close(c->fd);
	}
	chan_release(&c->ch);
	buf_release(&c->out);
	c->lis->refs--;
	lis_free_if_done(f, c->lis);
	free(c);
	f->conn[i] = f->conn[--f->nconn];
}

static struct fwd_conn *conn_find(struct fwd *f, uint16_t id)
{
	for (size_t i = 0; i < f->nconn; i++)
		if (f->conn[i]->id == id)
			return f->conn[i];
	return NULL;
}

/* The laptop's socket, closed now; abort: with a reset. */
static void conn_close_fd(struct fwd *f, struct fwd_conn *c, bool abort)
{
	if (c->fd < 0)
		return;
	ev_fd_del(f->ev, c->fd, EV_READ | EV_WRITE);
	if (abort) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
}

/* The laptop's side failed: the agent's side is abandoned too. */
static void conn_abort(struct fwd *f, struct fwd_conn *c, const char *why)
{
	conn_close_fd(f, c, true);
	if (f->linked)
		chan_reset(&c->ch, &f->s.c, PERR_REFUSED, why);
	else
		c->ch.sent_end = true;
	buf_reset(&c->out);
}

static uint16_t conn_id(struct fwd *f)
{
	for (;;) {
		if (++f->next_id <= WATCH_CHAN)
			f->next_id = WATCH_CHAN + 1;
		if (conn_find(f, f->next_id) == NULL)
			return f->next_id;
	}
}

static void on_accept(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd_lis *l = arg;
	struct fwd *f = l->f;
	/* At the channel cap the listeners are not read (before_poll):
	 * the kernel's backlog holds the next ones until some end. */
	while (f->nconn < CHAN_OPEN_MAX - 1) {
		int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* Out of fds: the listeners rest a moment (else poll
			 * says readable, again and again). */
			f->pause_until = now_mono_ns() + ACCEPT_PAUSE_MS * 1000000ull;
			ev_timer_add(ev, ACCEPT_PAUSE_MS, on_pause_end, f);
			if (!f->fds_said)
				say(f, "out of file descriptors here: new connections wait (ulimit -n)");
			f->fds_said = true;
			return;
		}
		if (s < 0)
			return;
		if (!f->linked) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			(void)setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(s);
			continue;
		}
		int one = 1;
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct fwd_conn *c = xcalloc(1, sizeof(*c));
		c->id = conn_id(f);
		c->fd = s;
		c->lis = l;
		chan_init(&c->ch, c->id);
		buf_init(&c->out, CHAN_WINDOW);
		struct buf b;
		buf_init(&b, FRAME_MAX);
		fwd_open_encode(&l->to, &b);
		chan_queue(&c->ch, MSG_FWD_OPEN, b.data, b.len);
		buf_release(&b);
		l->refs++;
		l->conns++;
		f->conn[f->nconn++] = c;
		f->status_dirty = true;
	}
}

static void conn_io(struct ev_loop *ev, int fd, int mask, void *arg);

/* Writes what the agent sent; passes its end on once all is out. */
static void conn_write(struct fwd *f, struct fwd_conn *c)
{
	while (c->fd >= 0 && c->out.len) {
		ssize_t w = write(c->fd, c->out.data, c->out.len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			conn_abort(f, c, "the connection was reset on the laptop");
			return;
		}
		buf_consume(&c->out, (size_t)w);
		if (f->linked)
			chan_consumed(&c->ch, &f->s.c, (size_t)w);
	}
	if (c->fd >= 0 && c->a_eof && !c->shut && c->out.len == 0) {
		(void)shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

static void lconn_read(struct fwd *f, struct fwd_conn *c)
{
	ssize_t n = chan_read_frame(&c->ch, MSG_FWD_DATA, c->fd, FWD_CHUNK);
	if (n == -EAGAIN)
		return;
	if (n < 0) {
		conn_abort(f, c, "the connection was reset on the laptop");
		return;
	}
	if (n == 0) {
		c->l_eof = true;
		chan_close(&c->ch);
		return;
	}
	c->lis->out += (uint64_t)n;
	f->status_dirty = true;
}

/* By fd, not by a pointer: a connection freed earlier in the turn is
 * simply not found. */
static void conn_io(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd *f = arg;
	struct fwd_conn *c = NULL;
	for (size_t i = 0; i < f->nconn && c == NULL; i++)
		if (f->conn[i]->fd == fd)
			c = f->conn[i];
	if (c == NULL)
		return;
	if (mask & EV_READ)
		lconn_read(f, c);
	if ((mask & EV_WRITE) && c->fd >= 0)
		conn_write(f, c);
}

/* ---- frames from the agent ---- */

static void proto_die(struct fwd *f, const char *what) ATTR_NORETURN;
static void proto_die(struct fwd *f, const char *what)
{
	die(EXIT_PROTO, "the agent on '%s' broke the protocol: %s", f->s.label, what);
}

static void conn_frame(struct fwd *f, struct fwd_conn *c, uint16_t type, struct rd *body)
{
	size_t n = rd_left(body);
	uint32_t code = 0;
	char *msg = NULL;
	int r = chan_recv(&c->ch, type, body, &code, &msg);
	if (r < 0)
		proto_die(f, "a frame past a forward channel's window or end");
	switch (r) {
	case CHAN_RX_WINDOW:
		return;
	case CHAN_RX_CLOSE:
		c->a_eof = true;
		conn_write(f, c);
		return;
	case CHAN_RX_RESET:
		if (!c->ready && !c->lis->warned) {
			char *m = xstrdup(msg ? msg : "refused");
			say(f, "%s:%u: %s", here_for(f, c->lis), c->lis->lport, vis(m));
			free(m);
			c->lis->warned = true;
		}
		free(msg);
		conn_close_fd(f, c, true);
		chan_abandon(&c->ch);
		return;
	}
	if (type == MSG_FWD_READY) {
		if (c->ready || n != 0)
			proto_die(f, "a second or malformed FWD_READY");
		c->ready = true;
		c->lis->warned = false;
		return;
	}
	if (type != MSG_FWD_DATA || !c->ready || n == 0)
		proto_die(f, "an unexpected frame on a forward channel");
	if (c->fd < 0) {
		/* Crossed our reset or close: dropped, credit given back. */
		chan_consumed(&c->ch, &f->s.c, n);
		return;
	}
	const uint8_t *p = rd_bytes(body, n);
	c->lis->in += (uint64_t)n;
	/* Straight to the socket when nothing waits before it. */
	if (c->out.len == 0 && !c->shut) {
		ssize_t w = write(c->fd, p, n);
		if (w > 0) {
			chan_consumed(&c->ch, &f->s.c, (size_t)w);
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_abort(f, c, "the connection was reset on the laptop");
			return;
		}
	}
	if (n && buf_put(&c->out, p, n) < 0)
		proto_die(f, "forwarded data past the window");
	f->status_dirty = true;
	conn_write(f, c);
}

static bool printed(struct fwd *f, const char *u, bool add)
{
	for (size_t i = 0; i < f->nprinted; i++)
		if (strcmp(f->printed[i], u) == 0)
			return true;
	if (!add)
		return false;
	if (f->nprinted == PRINTED_MAX) {
		free(f->printed[0]);
		memmove(f->printed, f->printed + 1, (PRINTED_MAX - 1) * sizeof(char *));
		f->nprinted--;
	}
	f->printed[f->nprinted++] = xstrdup(u);
	return false;
}

static struct fwd_lis *auto_find(struct fwd *f, const char *job, uint16_t port)
{
	for (size_t i = 0; i < f->nlis; i++) {
		struct fwd_lis *l = f->lis[i];
		if (!l->gone && l->job && l->rport == port && strcmp(l->job, job) == 0)
			return l;
	}
	return NULL;
}

static bool skipped(const struct fwd *f, uint16_t port)
{
	for (uint32_t i = 0; i < f->o->nskip; i++)
		if (f->o->skip[i] == port)
			return true;
	return false;
}

static void port_event(struct fwd *f, struct fwd_port *p)
{
	struct fwd_lis *l = auto_find(f, p->job, p->port);
	if (!p->up) {
		if (l) {
			if (port_say_ok(f))
				say(f, "job %s closed port %u", p->job, p->port);
			lis_close(f, l);
			lis_free_if_done(f, l);
		}
		return;
	}
	if (l == NULL) {
		if (skipped(f, p->port))
			return;
		if (f->nauto == FWD_PORTS_MAX) {
			if (!f->many_said)
				say(f, "job %s listens on %u: not forwarded, %d ports already are (and no more will be said)",
				    p->job, p->port, FWD_PORTS_MAX);
			f->many_said = true;
			return;
		}
		/* The job's own address when it listens on one: loopback
		 * for a wildcard. */
		bool any = strcmp(p->addr, "0.0.0.0") == 0 || strcmp(p->addr, "::") == 0;
		struct fwd_open to = { .kind = FWD_TCP, .host = any ? "" : p->addr, .port = p->port, .path = "" };
		char *label = any ? xasprintf("localhost:%u", p->port) :
			      strchr(p->addr, ':') ? xasprintf("[%s]:%u", p->addr, p->port) :
						    xasprintf("%s:%u", p->addr, p->port);
		int err;
		l = lis_add(f, &to, label, p->port, true, &err);
		free(label);
		if (l == NULL) {
			if (err == -EADDRINUSE)
				say(f, "cannot forward job %s's port %u: ports %u-%u are taken on this laptop", p->job,
				    p->port, p->port, p->port + FWD_LOCAL_TRIES > 65535 ? 65535 : p->port + FWD_LOCAL_TRIES);
			else
				say(f, "cannot forward job %s's port %u: %s", p->job, p->port, strerror(-err));
			return;
		}
		l->job = xstrdup(p->job);
		l->rport = p->port;
		f->nauto++;
		if (!port_say_ok(f))
			;
		else if (l->lport == p->port)
			say(f, "job %s listens on %u, forwarded to %s:%u", p->job, p->port, here_for(f, l), l->lport);
		else
			say(f, "job %s listens on %u, forwarded to %s:%u (%u %s here)", p->job, p->port,
			    here_for(f, l), l->lport, p->port, moved_why(p->port));
	}
	l->seen = true;
	for (uint32_t i = 0; i < p->nurls; i++) {
		char *u = fwd_url_local(p->urls[i], strlen(p->urls[i]), here_for(f, l), l->lport);
		/* Said, or not yet: a URL held back by the rate is not
		 * remembered, so the next report of it shows it. */
		if (u && !printed(f, u, false) && port_say_ok(f)) {
			printed(f, u, true);
			say(f, "job %s: %s", p->job, vis(u));
		}
		free(u);
	}
}

/* After a reconnect the agent says every live port again: the ones it
 * no longer says are gone. */
static void watch_synced(struct fwd *f)
{
	f->synced = true;
	f->synced_ever = true;
	for (size_t i = f->nlis; i-- > 0;) {
		struct fwd_lis *l = f->lis[i];
		if (l->job && !l->gone && !l->seen) {
			lis_close(f, l);
			lis_free_if_done(f, l);
		}
	}
}

static void watch_frame(struct fwd *f, uint16_t type, struct rd *body)
{
	uint32_t code = 0;
	char *msg = NULL;
	int r = chan_recv(&f->watch, type, body, &code, &msg);
	if (r < 0)
		proto_die(f, "a frame past the ports channel's window or end");
	if (r == CHAN_RX_WINDOW)
		return;
	if (r == CHAN_RX_CLOSE || r == CHAN_RX_RESET) {
		if (r == CHAN_RX_RESET)
			say(f, "the server stopped reporting ports: %s", vis(msg ? msg : "?"));
		free(msg);
		chan_close(&f->watch);
		f->watching = false;
		if (r == CHAN_RX_CLOSE && f->o->job && f->o->job[0] && !f->watch_failed)
			f->job_over = true;
		return;
	}
	chan_consumed(&f->watch, &f->s.c, rd_left(body));
	if (type == MSG_FWD_PORT) {
		struct fwd_port p;
		if (fwd_port_decode(body, &p) < 0)
			proto_die(f, "a malformed FWD_PORT");
		port_event(f, &p);
		fwd_port_release(&p);
	} else if (type == MSG_FWD_SYNCED) {
		rd_expect_end(body);
		if (!rd_ok(body))
			proto_die(f, "a malformed FWD_SYNCED");
		watch_synced(f);
	} else if (type == MSG_ERROR) {
		uint32_t ec;
		char *m;
		if (error_decode(body, &ec, &m) < 0)
			proto_die(f, "a malformed ERROR");
		say(f, "cannot follow the jobs' ports: %s", vis(m));
		free(m);
		f->watch_failed = true;
	} else {
		proto_die(f, "an unexpected frame on the ports channel");
	}
}

static void on_frame(struct fwd *f, uint16_t ch, uint16_t type, struct rd *body)
{
	if (ch == 0) {
		if (type == MSG_ERROR)
			die_for_error(&f->s, body);
		proto_die(f, "an unexpected frame on channel 0");
	}
	if (ch == WATCH_CHAN && f->watching) {
		watch_frame(f, type, body);
		return;
	}
	struct fwd_conn *c = conn_find(f, ch);
	if (c) {
		conn_frame(f, c, type, body);
		return;
	}
	/* Control frames for a channel already forgotten are fine; data
	 * for one we never opened is not. */
	if (type != MSG_CHAN_WINDOW && type != MSG_CHAN_CLOSE && type != MSG_CHAN_RESET)
		proto_die(f, "data on a channel that is not open");
}

/* ---- the link ---- */

static void on_link_read(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd *f = arg;
	int r = conn_fill(&f->s.c);
	uint16_t type;
	struct rd body;
	int k = 0;
	while (!f->lost && (k = conn_next(&f->s.c, &type, &body)) == 1)
		on_frame(f, f->s.c.chan, type, &body);
	if (k < 0)
		proto_die(f, "a malformed frame header");
	if (r == 0 || (r < 0 && r != -EAGAIN))
		f->lost = true;
}

static void on_link_write(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd *f = arg;
	if (conn_flush_some(&f->s.c) < 0)
		f->lost = true;
}

static void on_stderr(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd *f = arg;
	session_read_stderr(&f->s);
	if (f->s.proc.err < 0)
		ev_fd_del(ev, fd, EV_READ);
}

static void on_signal(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fwd *f = arg;
	sig_drain();
	if (sig_take(SIGINT) || sig_take(SIGTERM) || sig_take(SIGHUP))
		f->stop = true;
}

static void pump_all(struct fwd *f)
{
	for (size_t k = 0; k < f->nconn; k++) {
		struct fwd_conn *c = f->conn[(f->rr + k) % f->nconn];
		chan_pump(&c->ch, &f->s.c);
	}
	if (f->watching || !chan_idle(&f->watch))
		chan_pump(&f->watch, &f->s.c);
}

/* Before each poll: the channels' frames into the link and out at once
 * rather than after a poll for POLLOUT (one wake-up less on every
 * forwarded request); when that took everything, a second pump, so that
 * what the link's high mark held back goes in now or waits for POLLOUT.
 * Then each socket's interest from its channel's room. */
static void before_poll(struct ev_loop *ev, void *arg)
{
	struct fwd *f = arg;
	if (f->linked) {
		pump_all(f);
		f->rr++;
		if (f->s.c.out.len && conn_flush_some(&f->s.c) < 0)
			f->lost = true;
		if (!f->lost && f->s.c.out.len == 0)
			pump_all(f);
	}
	for (size_t i = f->nconn; i-- > 0;) {
		struct fwd_conn *c = f->conn[i];
		if (c->fd >= 0 && c->l_eof && c->shut)
			conn_close_fd(f, c, false);
		if (c->fd < 0 && (!f->linked || chan_done(&c->ch))) {
			conn_free(f, i);
			continue;
		}
		if (c->fd < 0)
			continue;
		int want = 0;
		if (!c->l_eof && chan_room(&c->ch))
			want |= EV_READ;
		if (c->out.len)
			want |= EV_WRITE;
		ev_fd_del(ev, c->fd, (EV_READ | EV_WRITE) & ~want);
		if (want)
			ev_fd_add(ev, c->fd, want, conn_io, f);
	}
	bool full = f->nconn >= CHAN_OPEN_MAX - 1 || (f->pause_until && now_mono_ns() < f->pause_until);
	if (f->nconn >= CHAN_OPEN_MAX - 1 && !f->full_said) {
		say(f, "%d connections are open through this forward; new ones wait until some end", CHAN_OPEN_MAX - 1);
		f->full_said = true;
	}
	if (full != f->full) {
		for (size_t i = 0; i < f->nlis; i++)
			for (int k = 0; k < f->lis[i]->nfd; k++) {
				if (full)
					ev_fd_del(ev, f->lis[i]->fd[k], EV_READ);
				else
					ev_fd_add(ev, f->lis[i]->fd[k], EV_READ, on_accept, f->lis[i]);
			}
		f->full = full;
	}
	if (f->linked && f->s.c.out.len)
		ev_fd_add(ev, f->s.c.wfd, EV_WRITE, on_link_write, f);
	else if (f->linked)
		ev_fd_del(ev, f->s.c.wfd, EV_WRITE);
}

/* ---- --list's file ---- */

static void status_write(struct fwd *f)
{
	if (f->status_path == NULL || !f->status_dirty)
		return;
	f->status_dirty = false;
	struct buf b;
	buf_init(&b, 1 << 20);
	const char *target = f->cfg->kind == TARGET_LOCAL ? "local" : f->cfg->host;
	for (size_t i = 0; i < f->nlis; i++) {
		struct fwd_lis *l = f->lis[i];
		if (l->gone)
			continue;
		char *line = xasprintf("%s\t%s:%u\t%s\t%d\t%llu\t%llu\t%s\n", target, here_for(f, l), l->lport, l->label,
				       l->refs, (unsigned long long)l->in, (unsigned long long)l->out,
				       l->job ? l->job : "-");
		buf_put(&b, line, strlen(line));
		free(line);
	}
	char *tmp = xasprintf("%s.tmp", f->status_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		bool ok = write_all(fd, b.data, b.len) == 0;
		close(fd);
		if (ok)
			(void)rename(tmp, f->status_path);
		else
			unlink(tmp);
	}
	free(tmp);
	buf_release(&b);
}

static int64_t on_tick(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct fwd *f = arg;
	status_write(f);
	if (f->o->follower && getppid() != f->parent)
		f->stop = true;
	return STATUS_MS;
}

/* ---- the session ---- */

static void watch_start(struct fwd *f)
{
	if (!f->o->autofwd)
		return;
	struct fwd_watch_req w = { .job = (char *)(f->o->job ? f->o->job : ""), .flags = 0 };
	struct buf b;
	buf_init(&b, 256);
	fwd_watch_encode(&w, &b);
	chan_release(&f->watch);
	chan_init(&f->watch, WATCH_CHAN);
	chan_queue(&f->watch, MSG_FWD_WATCH, b.data, b.len);
	buf_release(&b);
	f->watching = true;
	f->synced = false;
	for (size_t i = 0; i < f->nlis; i++)
		f->lis[i]->seen = false;
}

static void link_watch(struct fwd *f)
{
	fd_pipe_grow(f->s.c.rfd);
	fd_pipe_grow(f->s.c.wfd);
	ev_fd_add(f->ev, f->s.c.rfd, EV_READ, on_link_read, f);
	if (f->s.proc.err >= 0)
		ev_fd_add(f->ev, f->s.proc.err, EV_READ, on_stderr, f);
	f->linked = true;
	f->lost = false;
	if (!f->s.c.chans)
		die(EXIT_REMOTE, "the agent on '%s' cannot forward (it speaks no channels); update it with `ferry doctor`",
		    f->s.label);
	watch_start(f);
	/* Frames that came with the hello. */
	on_link_read(f->ev, f->s.c.rfd, EV_READ, f);
}

/* The link went: every connection in flight is reset, the listeners
 * stay; back when ssh is.  -1 when interrupted meanwhile. */
static int fwd_relink(struct fwd *f)
{
	ev_fd_del(f->ev, f->s.c.rfd, EV_READ);
	ev_fd_del(f->ev, f->s.c.wfd, EV_WRITE);
	if (f->s.proc.err >= 0)
		ev_fd_del(f->ev, f->s.proc.err, EV_READ);
	f->linked = false;
	for (size_t i = f->nconn; i-- > 0;) {
		conn_close_fd(f, f->conn[i], true);
		conn_free(f, i);
	}
	chan_release(&f->watch);
	chan_init(&f->watch, WATCH_CHAN);
	f->watching = false;
	session_close(&f->s);
	if (!f->o->follower)
		say(f, "connection to '%s' lost; reconnecting (the forwards stay)", f->s.label);
	struct ferr e = { 0 };
	if (session_reopen(&f->s, f->cfg, 0, NULL, &e) < 0) {
		if (e.code > 128) {
			ferr_release(&e);
			return -1;
		}
		ferr_die(&e);
	}
	if (!f->o->follower)
		say(f, "reconnected to '%s'", f->s.label);
	link_watch(f);
	return 0;
}

/* The forwards folder, made and checked private (ours, 0700, not a
 * link), with the state folder above it: NULL when either is not. */
static char *forwards_private(const char **why)
{
	char *st = state_home();
	char *dir = xasprintf("%s/forwards", st);
	int r = dir_private(st, why);
	free(st);
	if (r < 0 || dir_private(dir, why) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

static void status_open(struct fwd *f)
{
	const char *why = NULL;
	char *dir = forwards_private(&why);
	if (dir == NULL) {
		if (!f->o->follower)
			say(f, "not listed by `ferry forward --list`: the state folder %s", why ? why : "is unusable");
		return;
	}
	f->status_path = xasprintf("%s/%d", dir, (int)getpid());
	f->status_dirty = true;
	free(dir);
}

int fwd_run(const struct config *cfg, const struct fwd_opts *o)
{
	struct fwd f = { .cfg = cfg, .o = o, .next_id = WATCH_CHAN, .parent = getppid() };
	struct ferr e = { 0 };
	struct session_opts so = { .batch = o->follower };
	int code = 0;

	sig_ignore(SIGPIPE);
	sig_watch(SIGINT);
	sig_watch(SIGTERM);
	sig_watch(SIGHUP);
	if (o->follower) {
		/* Set before the exec too (fwd_follow_start); the parent's pid
		 * from there, since ours may already be init's by now. */
		(void)platform_parent_death_signal(SIGTERM);
		const char *pp = getenv("FERRY_FOLLOW_PARENT");
		f.parent = pp ? (pid_t)strtol(pp, NULL, 10) : getppid();
		if (getppid() != f.parent)
			return 0;
	}
	f.ev = ev_new();
	chan_init(&f.watch, WATCH_CHAN);
	/* The listeners first: a port that cannot be had is said before
	 * anything connects. */
	size_t bound = 0;
	for (uint32_t i = 0; i < o->nspecs; i++) {
		const struct fwd_spec *sp = &o->specs[i];
		int err;
		struct fwd_lis *l = lis_add(&f, &sp->to, sp->label, sp->lport, false, &err);
		if (l == NULL && err == -EADDRINUSE)
			say(&f, "cannot forward %s: ports %u-%u are taken on this laptop", sp->label, sp->lport,
			    sp->lport + FWD_LOCAL_TRIES > 65535 ? 65535 : sp->lport + FWD_LOCAL_TRIES);
		else if (l == NULL)
			say(&f, "cannot listen on %s:%u: %s", here(&f), sp->lport, strerror(-err));
		if (l == NULL)
			continue;
		bound++;
		if (l->lport == sp->lport)
			say(&f, "forwarding %s:%u -> %s on the server", here(&f), l->lport, sp->label);
		else
			say(&f, "forwarding %s:%u -> %s on the server (%u %s here)", here(&f), l->lport, sp->label,
			    sp->lport, moved_why(sp->lport));
	}
	if (bound == 0 && !o->autofwd) {
		ev_free(f.ev);
		return EXIT_FAIL;
	}
	if (session_open(&f.s, cfg, &so, 0, NULL, &e) < 0)
		ferr_die(&e);
	ev_fd_add(f.ev, sig_fd(), EV_READ, on_signal, &f);
	ev_set_before(f.ev, before_poll, &f);
	status_open(&f);
	ev_timer_add(f.ev, STATUS_MS, on_tick, &f);
	link_watch(&f);
	if (o->autofwd && !o->follower && o->nspecs == 0)
		say(&f, "forwarding the ports of %s as they open (Ctrl-C stops)",
		    o->job && o->job[0] ? "this job" : "your running jobs");
	while (!f.stop && !f.job_over) {
		if (f.lost && fwd_relink(&f) < 0)
			break;
		if (ev_once(f.ev, -1) < 0 && !f.lost)
			break;
		if (f.s.c.eof)
			f.lost = true;
	}
	/* The terminal echoed ^C where the cursor was: the shell's prompt
	 * goes on a line of its own. */
	if (f.stop && !o->follower && isatty(2))
		(void)write_all(2, "\n", 1);
	if (f.job_over && !o->follower && !f.synced_ever) {
		say(&f, "job %s is not running: it has no ports to forward", o->job);
		code = EXIT_FAIL;
	} else if (f.job_over && !o->follower) {
		say(&f, "job %s ended; its ports are closed", o->job);
	}
	for (size_t i = f.nconn; i-- > 0;) {
		conn_close_fd(&f, f.conn[i], true);
		f.conn[i]->ch.sent_end = true;
	}
	f.linked = false;
	for (size_t i = f.nconn; i-- > 0;)
		conn_free(&f, i);
	for (size_t i = f.nlis; i-- > 0;) {
		lis_close(&f, f.lis[i]);
		lis_free_if_done(&f, f.lis[i]);
	}
	free(f.lis);
	chan_release(&f.watch);
	for (size_t i = 0; i < f.nprinted; i++)
		free(f.printed[i]);
	if (f.status_path) {
		unlink(f.status_path);
		free(f.status_path);
	}
	session_close(&f.s);
	ev_free(f.ev);
	return code;
}

/* ---- for the commands that follow a job ---- */

pid_t fwd_follow_start(const char *dir, uint32_t id)
{
	const char *no = getenv("FERRY_NO_FORWARD");
	if (no && no[0] && strcmp(no, "0") != 0)
		return 0;
	char *abs = realpath(dir ? dir : ".", NULL);
	if (abs == NULL)
		return 0;
	char idb[16];
	snprintf(idb, sizeof(idb), "%u", id);
	char ppid[24];
	snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
	pid_t pid = fork();
	if (pid == 0) {
		/* Goes with us, even if we die before it runs. */
		(void)platform_parent_death_signal(SIGTERM);
		setenv("FERRY_FOLLOW_PARENT", ppid, 1);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(2, 1);	/* nothing of ours on the job's stdout */
		}
		/* Only the terminal: a session's pipes held here would keep
		 * the parent's ssh from seeing its end. */
		platform_close_from(3);
		char *argv[] = { "ferry", "-C", abs, "forward", "--follower", "--job", idb, NULL };
		(void)platform_exec_self(argv);
		_exit(127);
	}
	free(abs);
	return pid > 0 ? pid : 0;
}

void fwd_follow_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	/* TERM, then KILL: a follower stuck connecting never holds the
	 * command that follows the job. */
	kill(pid, SIGTERM);
	for (int ms = 0; ms < FOLLOW_STOP_MS; ms += 10) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- --list ---- */

int fwd_list(bool json)
{
	const char *why = NULL;
	char *dir = forwards_private(&why);
	if (dir == NULL)
		die(EXIT_OSERR, "cannot list the forwards: the state folder %s", why ? why : "is unusable");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL && dfd >= 0)
		close(dfd);
	int shown = 0;
	if (!json)
		printf("%-7s %-12s %-22s %-24s %5s %9s %9s  %s\n", "PID", "TARGET", "LOCAL", "REMOTE", "CONNS", "IN",
		       "OUT", "JOB");
	for (struct dirent *de; d && (de = readdir(d));) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid > 1 << 22)
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			unlinkat(dfd, de->d_name, 0);	/* a forward that did not end well */
			continue;
		}
		/* Only a plain file of ours: nothing here makes us wait. */
		int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		char *text = NULL;
		size_t len = 0;
		bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid() &&
			  read_fd_all(fd, (size_t)st.st_size, 1 << 20, &text, &len) == 0;
		if (fd >= 0)
			close(fd);
		if (!ok) {
			free(text);
			continue;
		}
		for (char *line = text, *nl; line < text + len; line = nl + 1) {
			nl = memchr(line, '\n', (size_t)(text + len - line));
			if (nl == NULL)
				break;
			*nl = '\0';
			char *f[7];
			int nf = 0;
			for (char *p = line, *t; nf < 7 && p; p = t) {
				t = strchr(p, '\t');
				if (t)
					*t++ = '\0';
				f[nf++] = p;
			}
			if (nf != 7)
				continue;
			unsigned long long in = strtoull(f[4], NULL, 10), out = strtoull(f[5], NULL, 10);
			if (json) {
				char *q[4] = { json_quote(f[0]), json_quote(f[1]), json_quote(f[2]), json_quote(f[6]) };
				printf("{\"pid\":%ld,\"target\":%s,\"local\":%s,\"remote\":%s,\"conns\":%d,"
				       "\"in\":%llu,\"out\":%llu,\"job\":%s}\n",
				       pid, q[0], q[1], q[2], (int)strtol(f[3], NULL, 10), in, out, strcmp(f[6], "-") ? q[3] : "null");
				for (int k = 0; k < 4; k++)
					free(q[k]);
			} else {
				char hi[16], ho[16];
				fmt_bytes(in, hi, sizeof(hi));
				fmt_bytes(out, ho, sizeof(ho));
				printf("%-7ld %-12s %-22s %-24s %5s %9s %9s  %s\n", pid, vis(f[0]), vis(f[1]), vis(f[2]),
				       vis(f[3]), hi, ho, vis(f[6]));
			}
			shown++;
		}
		free(text);
	}
	if (d)
		closedir(d);
	free(dir);
	if (shown == 0 && !json)
		printf("(no live forwards)\n");
	return 0;
}

/* ---- `ferry jobs show`: a running job's ports, asked once ---- */

int fwd_ports_once(struct session *s, uint32_t id, struct fwd_port **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!s->c.chans)
		return -ENOTSUP;
	char idb[16];
	snprintf(idb, sizeof(idb), "%u", id);
	struct fwd_watch_req w = { .job = idb, .flags = FWD_WATCH_ONCE };
	struct buf b;
	buf_init(&b, 256);
	fwd_watch_encode(&w, &b);
	int r = conn_queue_ch(&s->c, WATCH_CHAN, MSG_FWD_WATCH, b.data, b.len);
	buf_release(&b);
	if (r < 0)
		return r;
	static const int none[] = { 0 };
	for (;;) {
		uint16_t type;
		struct rd body;
		r = session_next(s, &type, &body, none);
		if (r <= 0)
			return r < 0 ? r : -EPIPE;
		if (s->c.chan != WATCH_CHAN)
			return -EBADMSG;
		if (type == MSG_CHAN_CLOSE || type == MSG_CHAN_RESET)
			break;
		if (type == MSG_FWD_SYNCED || type == MSG_CHAN_WINDOW)
			continue;
		if (type == MSG_ERROR)
			continue;	/* closed next; no ports is the answer */
		if (type != MSG_FWD_PORT || *n == FWD_PORTS_MAX)
			return -EBADMSG;
		struct fwd_port p;
		if (fwd_port_decode(&body, &p) < 0)
			return -EBADMSG;
		if (!p.up) {
			fwd_port_release(&p);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = p;
	}
	/* Our end, so the id may be used again. */
	(void)conn_queue_ch(&s->c, WATCH_CHAN, MSG_CHAN_CLOSE, NULL, 0);
	(void)conn_flush(&s->c);
	return 0;
}
