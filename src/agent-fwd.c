/*
 * agent-fwd.c - the agent's end of a forwarded stream (FWD_OPEN): a
 * connection to a port or Unix socket of the server, carried on the
 * request's channel (docs/PROTOCOL.md, "Forward family").
 *
 * The window is granted back as the client's bytes are written to the
 * socket, not as they arrive: a server process that reads slowly slows
 * its sender, and at most CHAN_WINDOW bytes wait here per stream.  Each
 * direction ends on its own (half-close); the stream is over when both
 * have.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "ev.h"
#include "spawn.h"
#include "fwd-detect.h"
#include "fwd-wire.h"
#include "mon-jobs.h"
#include "names.h"
#include "util.h"

#include "banned.h"

#define FWD_ADDRS_MAX	4	/* addresses tried for one name */

struct fstream {
	struct achan *x;
	int fd;
	struct sockaddr_storage addr[FWD_ADDRS_MAX];
	socklen_t alen[FWD_ADDRS_MAX];
	int naddr, next;
	char *where;		/* what the client asked for, for messages */
	uint64_t timer;
	bool ready;		/* connected */
	bool peer_eof;		/* the client sent CHAN_CLOSE */
	bool shut_wr;		/* and we passed it on */
	bool rd_eof;		/* the socket ended: we sent CHAN_CLOSE */
	struct buf out;		/* the client's bytes for the socket */
};

static void fs_update(struct fstream *fs);
static bool fs_write(struct fstream *fs);

static void fs_close_fd(struct fstream *fs, bool abort)
{
	if (fs->fd < 0)
		return;
	ev_fd_del(achan_ev(fs->x), fs->fd, EV_READ | EV_WRITE);
	if (abort && fs->ready) {
		/* A reset, as the client's side was: not a clean end. */
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		(void)setsockopt(fs->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fs->fd);
	fs->fd = -1;
}

static void fs_free(struct fstream *fs, bool abort)
{
	fs_close_fd(fs, abort);
	if (fs->timer)
		ev_timer_del(achan_ev(fs->x), fs->timer);
	buf_release(&fs->out);
	free(fs->where);
	free(fs);
}

/* Ends the stream with CHAN_RESET: the client resets its connection. */
static void fs_fail(struct fstream *fs, uint32_t code, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void fs_fail(struct fstream *fs, uint32_t code, const char *fmt, ...)
{
	struct achan *x = fs->x;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	fs_free(fs, true);
	achan_reset(x, code, m);
	free(m);
}

static void fs_connected(struct fstream *fs)
{
	int one = 1;
	ev_timer_del(achan_ev(fs->x), fs->timer);
	fs->timer = 0;
	fs->ready = true;
	if (fs->addr[fs->next].ss_family != AF_UNIX)
		(void)setsockopt(fs->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	achan_queue(fs->x, MSG_FWD_READY, NULL, 0);
	/* What came meanwhile, and a half-close that came before it. */
	if (!fs_write(fs))
		return;
	fs_update(fs);
}

static void fs_try(struct fstream *fs);

static void on_connect(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fstream *fs = arg;
	int err = 0;
	socklen_t n = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0)
		err = errno;
	if (err == 0) {
		ev_fd_del(ev, fd, EV_WRITE);
		fs_connected(fs);
		return;
	}
	fs_close_fd(fs, false);
	fs->next++;
	fs_try(fs);
}

/* Connects to the next address, without blocking; all refused: fails. */
static void fs_try(struct fstream *fs)
{
	for (; fs->next < fs->naddr; fs->next++) {
		int fam = fs->addr[fs->next].ss_family;
		fs->fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fs->fd < 0)
			continue;
		if (connect(fs->fd, (struct sockaddr *)&fs->addr[fs->next], fs->alen[fs->next]) == 0) {
			fs_connected(fs);
			return;
		}
		if (errno == EINPROGRESS) {
			ev_fd_add(achan_ev(fs->x), fs->fd, EV_WRITE, on_connect, fs);
			return;
		}
		close(fs->fd);
		fs->fd = -1;
	}
	fs_fail(fs, PERR_REFUSED, "connection refused: nothing listens on %s on the server", fs->where);
}

static int64_t on_timeout(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct fstream *fs = arg;
	fs->timer = 0;
	fs_fail(fs, PERR_REFUSED, "no answer from %s on the server within %d s", fs->where, FWD_CONNECT_MS / 1000);
	return EV_TIMER_END;
}

/* Reads what the socket has into one frame. */
static bool fs_read(struct fstream *fs)
{
	ssize_t n = chan_read_frame(&fs->x->ch, MSG_FWD_DATA, fs->fd, FWD_CHUNK);
	if (n == -EAGAIN)
		return true;
	if (n < 0) {
		fs_fail(fs, PERR_REFUSED, "%s on the server: %s", fs->where, strerror((int)-n));
		return false;
	}
	if (n == 0) {
		fs->rd_eof = true;
		chan_close(&fs->x->ch);
	}
	return true;
}

/* Writes what the client sent; passes its end on once all is out. */
static bool fs_write(struct fstream *fs)
{
	while (fs->out.len) {
		ssize_t w = write(fs->fd, fs->out.data, fs->out.len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return true;
		if (w < 0) {
			fs_fail(fs, PERR_REFUSED, "%s on the server: %s", fs->where, strerror(errno));
			return false;
		}
		buf_consume(&fs->out, (size_t)w);
		achan_consumed(fs->x, (size_t)w);
	}
	if (fs->peer_eof && !fs->shut_wr) {
		(void)shutdown(fs->fd, SHUT_WR);
		fs->shut_wr = true;
	}
	return true;
}

static void on_fd(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct fstream *fs = arg;
	if ((mask & EV_READ) && !fs_read(fs))
		return;
	if ((mask & EV_WRITE) && !fs_write(fs))
		return;
	fs_update(fs);
}

/* Interest from the state; the end once both directions are over. */
static void fs_update(struct fstream *fs)
{
	struct ev_loop *ev = achan_ev(fs->x);
	if (!fs->ready)
		return;
	if (fs->rd_eof && fs->shut_wr) {
		struct achan *x = fs->x;
		fs_free(fs, false);
		achan_done(x);
		return;
	}
	if (!fs->rd_eof && achan_room(fs->x))
		ev_fd_add(ev, fs->fd, EV_READ, on_fd, fs);
	else
		ev_fd_del(ev, fs->fd, EV_READ);
	if (fs->out.len)
		ev_fd_add(ev, fs->fd, EV_WRITE, on_fd, fs);
	else
		ev_fd_del(ev, fs->fd, EV_WRITE);
}

static int fs_frame(struct achan *x, uint16_t type, struct rd *body)
{
	struct fstream *fs = x->st;
	if (type != MSG_FWD_DATA || rd_left(body) == 0) {
		achan_error(x, PERR_PROTOCOL, "unexpected message type 0x%04x in a forwarded stream", type);
		return -1;
	}
	size_t n = rd_left(body);
	const uint8_t *p = rd_bytes(body, n);
	/* Straight to the socket when nothing waits before it. */
	if (fs->ready && fs->out.len == 0 && !fs->shut_wr) {
		ssize_t w = write(fs->fd, p, n);
		if (w > 0) {
			achan_consumed(x, (size_t)w);
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			fs_fail(fs, PERR_REFUSED, "%s on the server: %s", fs->where, strerror(errno));
			return 0;
		}
	}
	/* The window bounds what the client may send before we consume. */
	if (n && buf_put(&fs->out, p, n) < 0) {
		achan_error(x, PERR_PROTOCOL, "forwarded data past the window");
		return -1;
	}
	if (fs->ready && !fs_write(fs))
		return 0;
	fs_update(fs);
	return 0;
}

static void fs_room(struct achan *x)
{
	fs_update(x->st);
}

static void fs_peer_end(struct achan *x)
{
	struct fstream *fs = x->st;
	fs->peer_eof = true;
	if (fs->ready && !fs_write(fs))
		return;
	fs_update(fs);
}

static void fs_stop(struct achan *x)
{
	fs_free(x->st, true);
}

static const struct achan_ops fwd_ops = {
	.frame = fs_frame, .room = fs_room, .stop = fs_stop, .peer_end = fs_peer_end,
};

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a))
		return true;
	return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* An address of one of this host's interfaces (not a bind() test: with
 * ip_nonlocal_bind any address would pass). */
static bool is_own(const struct sockaddr_storage *ss, socklen_t len)
{
	struct ifaddrs *ifs = NULL;
	bool own = false;
	if (getifaddrs(&ifs) < 0)
		return false;
	for (struct ifaddrs *i = ifs; i && !own; i = i->ifa_next) {
		const struct sockaddr *a = i->ifa_addr;
		if (a == NULL || a->sa_family != ss->ss_family)
			continue;
		if (a->sa_family == AF_INET)
			own = memcmp(&((const struct sockaddr_in *)a)->sin_addr,
				     &((const struct sockaddr_in *)ss)->sin_addr, 4) == 0;
		else if (a->sa_family == AF_INET6)
			own = memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
				     &((const struct sockaddr_in6 *)ss)->sin6_addr, 16) == 0;
	}
	freeifaddrs(ifs);
	return own;
}

static void add_ip(struct fstream *fs, int fam, const void *ip, uint16_t port)
{
	if (fs->naddr == FWD_ADDRS_MAX)
		return;
	struct sockaddr_storage *ss = &fs->addr[fs->naddr];
	memset(ss, 0, sizeof(*ss));
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, ip, 4);
		fs->alen[fs->naddr++] = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, ip, 16);
		fs->alen[fs->naddr++] = sizeof(*s6);
	}
}

/* Names resolved lately (a blocking lookup each, otherwise). */
#define RESOLVED_KEEP	8
#define RESOLVED_TTL_NS	(30 * 1000000000ull)
static struct resolved {
	char host[FWD_HOST_MAX + 1];
	uint64_t at;		/* 0: empty */
	int n;
	int fam[FWD_ADDRS_MAX];
	uint8_t ip[FWD_ADDRS_MAX][16];
} resolved[RESOLVED_KEEP];
static unsigned resolved_next;

/* Where the request may go: fills fs's addresses, or returns the reason
 * it may not (PERR_DENIED / PERR_REFUSED in *code; caller frees). */
static char *fs_resolve(struct fstream *fs, const struct fwd_open *o, uint32_t *code)
{
	if (o->kind == FWD_UNIX) {
		struct sockaddr_un *su = (struct sockaddr_un *)&fs->addr[0];
		memset(su, 0, sizeof(*su));
		su->sun_family = AF_UNIX;
		if (strlen(o->path) >= sizeof(su->sun_path)) {
			*code = PERR_DENIED;
			return xasprintf("the socket path '%s' is too long", vis(o->path));
		}
		memcpy(su->sun_path, o->path, strlen(o->path) + 1);
		fs->alen[0] = sizeof(*su);
		fs->naddr = 1;
		fs->where = xstrdup(o->path);
		return NULL;
	}
	const char *h = o->host;
	fs->where = strchr(h, ':') ? xasprintf("[%s]:%u", h, o->port) :
				     xasprintf("%s:%u", h[0] ? h : "localhost", o->port);
	uint8_t ip[16];
	if (h[0] == '\0' || strcmp(h, "localhost") == 0) {
		static const uint8_t v4lo[4] = { 127, 0, 0, 1 };
		add_ip(fs, AF_INET, v4lo, o->port);
		add_ip(fs, AF_INET6, &in6addr_loopback, o->port);
		return NULL;
	}
	if (inet_pton(AF_INET, h, ip) == 1)
		add_ip(fs, AF_INET, ip, o->port);
	else if (inet_pton(AF_INET6, h, ip) == 1)
		add_ip(fs, AF_INET6, ip, o->port);
	if (fs->naddr == 1) {
		/* Loopback, or one of this host's own addresses (a job that
		 * listens on one interface only): no naming needed. */
		if (is_loopback(&fs->addr[0]) || is_own(&fs->addr[0], fs->alen[0]) || (o->flags & FWD_NAMED_HOST))
			return NULL;
		*code = PERR_DENIED;
		return xasprintf("%s is not an address of the server; the agent connects there only when you name it",
				 fs->where);
	}
	if (!(o->flags & FWD_NAMED_HOST)) {
		*code = PERR_DENIED;
		return xasprintf("%s is not the server; the agent connects there only when you name it", fs->where);
	}
	/* A name the user typed.  The lookup blocks the session, so its
	 * answer is kept a while: a pool of connections to one host asks
	 * once, not once each. */
	struct resolved *rc = NULL;
	uint64_t now = now_mono_ns();
	for (size_t i = 0; i < RESOLVED_KEEP; i++)
		if (resolved[i].at && now - resolved[i].at < RESOLVED_TTL_NS && strcmp(resolved[i].host, h) == 0)
			rc = &resolved[i];
	if (rc == NULL) {
		struct names_addr na[FWD_ADDRS_MAX];
		const char *why = NULL;
		int k = names_host(h, na, FWD_ADDRS_MAX, &why);
		if (k < 0) {
			*code = PERR_REFUSED;
			return xasprintf("cannot resolve '%s' on the server: %s", vis(h), why);
		}
		rc = &resolved[resolved_next++ % RESOLVED_KEEP];
		memset(rc, 0, sizeof(*rc));
		snprintf(rc->host, sizeof(rc->host), "%s", h);
		rc->at = now;
		for (int i = 0; i < k && rc->n < FWD_ADDRS_MAX; i++) {
			memcpy(rc->ip[rc->n], na[i].ip, na[i].fam == AF_INET ? 4 : 16);
			rc->fam[rc->n++] = na[i].fam;
		}
	}
	for (int i = 0; i < rc->n; i++)
		add_ip(fs, rc->fam[i], rc->ip[i], o->port);
	if (fs->naddr == 0) {
		*code = PERR_REFUSED;
		return xasprintf("'%s' has no address the server can reach", vis(h));
	}
	return NULL;
}

int agent_fwd_open_start(struct achan *x, struct rd *body)
{
	struct fwd_open o;
	if (x->ch.id == 0 || fwd_open_decode(body, &o) < 0) {
		achan_error(x, PERR_PROTOCOL, "malformed forward request");
		return -1;
	}
	struct fstream *fs = xcalloc(1, sizeof(*fs));
	fs->x = x;
	fs->fd = -1;
	buf_init(&fs->out, CHAN_WINDOW);
	uint32_t code = 0;
	char *why = fs_resolve(fs, &o, &code);
	fwd_open_release(&o);
	if (why) {
		fs_free(fs, false);
		achan_reset(x, code, why);
		free(why);
		return 0;
	}
	x->ops = &fwd_ops;
	x->st = fs;
	x->own_window = true;
	/* A stream may be bulk: the link's pipes grown once. */
	fd_pipe_grow(0);
	fd_pipe_grow(1);
	fs->timer = ev_timer_add(achan_ev(x), FWD_CONNECT_MS, on_timeout, fs);
	fs_try(fs);
	return 0;
}

/* ---- FWD_WATCH: the ports of the user's jobs ---- */

struct fwatch {
	struct achan *x;
	struct fwd_det *d;
	uint64_t timer;
	bool lost;		/* a report did not fit the channel's queue */
	char *jobs;		/* the jobs folder: a new job there speeds up */
	uint64_t jobs_mtime;
	uint64_t fast_until;	/* looks every FWD_SCAN_MS until then */
};

static void fw_free(struct fwatch *w)
{
	if (w->timer)
		ev_timer_del(achan_ev(w->x), w->timer);
	fwd_det_free(w->d);
	free(w->jobs);
	free(w);
}

static void fw_emit(void *arg, const struct fwd_port *p)
{
	struct fwatch *w = arg;
	struct buf b;
	w->fast_until = now_mono_ns() + FWD_FAST_MS * 1000000ull;
	buf_init(&b, FRAME_MAX);
	/* The detector takes what it reported as said: one that does not
	 * fit (a burst of ports far past the queue) ends the watch loudly. */
	if (fwd_port_encode(p, &b) < 0 || achan_queue(w->x, MSG_FWD_PORT, b.data, b.len) < 0)
		w->lost = true;
	buf_release(&b);
}

/* One look; the stream ends when the one job it watches has. */
static bool fw_scan(struct fwatch *w)
{
	int r = fwd_det_scan(w->d, fw_emit, w);
	if (r == 0 && !w->lost)
		return true;
	struct achan *x = w->x;
	bool lost = w->lost;
	w->timer = 0;
	fw_free(w);
	if (lost)
		achan_error(x, PERR_INTERNAL, "the jobs' ports changed faster than they could be reported");
	else if (r < 0)
		achan_error(x, PERR_INTERNAL, "cannot look for the jobs' ports: %s", strerror(-r));
	achan_done(x);
	return false;
}

/* Servers mostly open their ports as their job starts: looks come every
 * FWD_SCAN_MS while something happens, every FWD_SCAN_IDLE_MS once all
 * is quiet (a port opened hours into a job is still seen within it). */
static int64_t fw_tick(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct fwatch *w = arg;
	struct stat st;
	uint64_t now = now_mono_ns();
	if (w->jobs && stat(w->jobs, &st) == 0) {
		uint64_t m = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
		if (m != w->jobs_mtime)
			w->fast_until = now + FWD_FAST_MS * 1000000ull;
		w->jobs_mtime = m;
	}
	/* A reader that is behind gets the changes later, summed: the
	 * detector reports what differs from what it last said. */
	if (achan_room(w->x) && !fw_scan(w))
		return EV_TIMER_END;
	return now < w->fast_until ? FWD_SCAN_MS : FWD_SCAN_IDLE_MS;
}

static int fw_frame(struct achan *x, uint16_t type, struct rd *body)
{
	achan_error(x, PERR_PROTOCOL, "unexpected message type 0x%04x on a ports watch", type);
	return -1;
}

static void fw_room(struct achan *x)
{
}

static void fw_stop(struct achan *x)
{
	fw_free(x->st);
}

static const struct achan_ops watch_ops = { .frame = fw_frame, .room = fw_room, .stop = fw_stop };

int agent_fwd_watch_start(struct achan *x, struct rd *body)
{
	struct fwd_watch_req q;
	if (x->ch.id == 0 || fwd_watch_decode(body, &q) < 0) {
		achan_error(x, PERR_PROTOCOL, "malformed ports watch request");
		return -1;
	}
	struct fwatch *w = xcalloc(1, sizeof(*w));
	w->x = x;
	w->jobs = mon_jobs_dir();
	w->fast_until = now_mono_ns() + FWD_FAST_MS * 1000000ull;
	w->d = fwd_det_new(NULL, NULL, getuid(), q.job[0] ? q.job : NULL);
	bool once = (q.flags & FWD_WATCH_ONCE) != 0;
	fwd_watch_release(&q);
	if (w->d == NULL) {
		fw_free(w);
		achan_error(x, PERR_INTERNAL, "cannot look for the jobs' ports");
		return -1;
	}
	if (!fw_scan(w))
		return 0;
	achan_queue(x, MSG_FWD_SYNCED, NULL, 0);
	if (once) {
		fw_free(w);
		achan_done(x);
		return 0;
	}
	x->ops = &watch_ops;
	x->st = w;
	w->timer = ev_timer_add(achan_ev(x), FWD_SCAN_MS, fw_tick, w);
	return 0;
}
