/*
 * ev.c - a small poll(2) event loop in the spirit of redis's ae.c.
 *
 * A session has a handful of fds (the link, a command's three pipes, an
 * inotify fd, a supervisor socket per attach), so a linear table and one
 * poll per turn cost less than the bookkeeping of anything cleverer; see
 * docs/event-loop.md.  Invariant: a handler is only called for the
 * registration it was polled for (a generation number tells a removed
 * fd from a new one that reused its number in the same turn).
 */
#define _GNU_SOURCE
#include "ev.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

#define EV_SIGS	65

struct ev_fd {
	int fd;
	int mask;
	uint64_t gen;
	ev_fd_fn *rfn, *wfn;
	void *rarg, *warg;
};

struct ev_timer {
	uint64_t id;
	uint64_t when_ns;
	ev_timer_fn *fn;	/* NULL once deleted */
	void *arg;
};

struct ev_loop {
	struct ev_fd fds[EV_FDS_MAX];
	int nfds;
	uint64_t gen;
	struct ev_timer *timers;
	size_t ntimers, timers_cap;
	uint64_t timer_id;
	ev_sig_fn *sigfn[EV_SIGS];
	void *sigarg[EV_SIGS];
	int nsigs;
	ev_before_fn *before;
	void *before_arg;
	bool stop;
};

struct ev_loop *ev_new(void)
{
	return xcalloc(1, sizeof(struct ev_loop));
}

void ev_free(struct ev_loop *ev)
{
	if (ev == NULL)
		return;
	for (int s = 1; s < EV_SIGS; s++)
		if (ev->sigfn[s])
			sig_unwatch(s);
	free(ev->timers);
	free(ev);
}

static struct ev_fd *find_fd(struct ev_loop *ev, int fd)
{
	for (int i = 0; i < ev->nfds; i++)
		if (ev->fds[i].fd == fd)
			return &ev->fds[i];
	return NULL;
}

int ev_fd_add(struct ev_loop *ev, int fd, int mask, ev_fd_fn *fn, void *arg)
{
	struct ev_fd *f = find_fd(ev, fd);
	if (f == NULL) {
		if (ev->nfds == EV_FDS_MAX)
			return -ENOSPC;
		f = &ev->fds[ev->nfds++];
		*f = (struct ev_fd){ .fd = fd, .gen = ++ev->gen };
	}
	f->mask |= mask & (EV_READ | EV_WRITE);
	if (mask & EV_READ) {
		f->rfn = fn;
		f->rarg = arg;
	}
	if (mask & EV_WRITE) {
		f->wfn = fn;
		f->warg = arg;
	}
	return 0;
}

void ev_fd_del(struct ev_loop *ev, int fd, int mask)
{
	struct ev_fd *f = find_fd(ev, fd);
	if (f == NULL)
		return;
	f->mask &= ~mask;
	if (f->mask == 0)
		*f = ev->fds[--ev->nfds];	/* order does not matter */
}

int ev_fd_mask(const struct ev_loop *ev, int fd)
{
	for (int i = 0; i < ev->nfds; i++)
		if (ev->fds[i].fd == fd)
			return ev->fds[i].mask;
	return 0;
}

uint64_t ev_timer_add(struct ev_loop *ev, uint64_t ms, ev_timer_fn *fn, void *arg)
{
	if (ev->ntimers == ev->timers_cap) {
		ev->timers_cap = ev->timers_cap ? 2 * ev->timers_cap : 8;
		ev->timers = xrealloc(ev->timers, ev->timers_cap * sizeof(*ev->timers));
	}
	struct ev_timer *t = &ev->timers[ev->ntimers++];
	t->id = ++ev->timer_id;
	t->when_ns = now_mono_ns() + ms * 1000000u;
	t->fn = fn;
	t->arg = arg;
	return t->id;
}

int ev_timer_del(struct ev_loop *ev, uint64_t id)
{
	for (size_t i = 0; i < ev->ntimers; i++) {
		if (ev->timers[i].id == id && ev->timers[i].fn) {
			ev->timers[i].fn = NULL;	/* swept after the turn */
			return 0;
		}
	}
	return -ENOENT;
}

int ev_sig_add(struct ev_loop *ev, int signo, ev_sig_fn *fn, void *arg)
{
	if (signo <= 0 || signo >= EV_SIGS)
		return -EINVAL;
	if (ev->sigfn[signo] == NULL)
		ev->nsigs++;
	ev->sigfn[signo] = fn;
	ev->sigarg[signo] = arg;
	sig_watch(signo);
	return 0;
}

void ev_sig_del(struct ev_loop *ev, int signo)
{
	if (signo <= 0 || signo >= EV_SIGS || ev->sigfn[signo] == NULL)
		return;
	sig_unwatch(signo);
	(void)sig_take(signo);
	ev->sigfn[signo] = NULL;
	ev->nsigs--;
}

void ev_set_before(struct ev_loop *ev, ev_before_fn *fn, void *arg)
{
	ev->before = fn;
	ev->before_arg = arg;
}

/* The poll timeout: the caller's, shortened to the next live timer. */
static int next_timeout(const struct ev_loop *ev, int timeout_ms)
{
	uint64_t now = now_mono_ns();
	for (size_t i = 0; i < ev->ntimers; i++) {
		const struct ev_timer *t = &ev->timers[i];
		if (t->fn == NULL)
			continue;
		uint64_t ms = t->when_ns <= now ? 0 : (t->when_ns - now + 999999) / 1000000u;
		if (ms > INT32_MAX)
			ms = INT32_MAX;
		if (timeout_ms < 0 || (int)ms < timeout_ms)
			timeout_ms = (int)ms;
	}
	return timeout_ms;
}

/* Runs the timers due now that existed before this turn's handlers ran
 * (a timer added for "now" by one of them waits for the next turn). */
static int run_timers(struct ev_loop *ev, uint64_t last_id)
{
	int ran = 0;
	uint64_t now = now_mono_ns();
	for (size_t i = 0; i < ev->ntimers; i++) {
		struct ev_timer *t = &ev->timers[i];
		if (t->fn == NULL || t->id > last_id || t->when_ns > now)
			continue;
		ev_timer_fn *fn = t->fn;
		uint64_t id = t->id;
		int64_t again = fn(ev, id, t->arg);
		ran++;
		t = &ev->timers[i];	/* the handler may have grown the array */
		if (t->fn == NULL)
			continue;	/* it deleted itself */
		if (again < 0)
			t->fn = NULL;
		else
			t->when_ns = now_mono_ns() + (uint64_t)again * 1000000u;
	}
	size_t o = 0;
	for (size_t i = 0; i < ev->ntimers; i++)
		if (ev->timers[i].fn)
			ev->timers[o++] = ev->timers[i];
	ev->ntimers = o;
	return ran;
}

static int run_signals(struct ev_loop *ev)
{
	int ran = 0;
	sig_drain();
	for (int s = 1; s < EV_SIGS; s++) {
		if (ev->sigfn[s] == NULL)
			continue;
		int n = sig_take(s);
		if (n > 0 && ev->sigfn[s]) {
			ev->sigfn[s](ev, s, n, ev->sigarg[s]);
			ran++;
		}
	}
	return ran;
}

/* Calls fd's handlers for revents if the registration polled is still
 * the one there (same generation) and still wants that. */
static int dispatch(struct ev_loop *ev, int fd, uint64_t gen, short revents)
{
	int ran = 0;
	bool err = revents & (POLLERR | POLLHUP | POLLNVAL);
	struct ev_fd *f = find_fd(ev, fd);
	if (f && f->gen == gen && (f->mask & EV_READ) && (err || (revents & POLLIN))) {
		f->rfn(ev, fd, EV_READ, f->rarg);
		ran++;
	}
	f = find_fd(ev, fd);
	if (f && f->gen == gen && (f->mask & EV_WRITE) && (err || (revents & POLLOUT))) {
		f->wfn(ev, fd, EV_WRITE, f->warg);
		ran++;
	}
	return ran;
}

int ev_once(struct ev_loop *ev, int timeout_ms)
{
	struct pollfd p[EV_FDS_MAX + 1];
	uint64_t gens[EV_FDS_MAX];
	int np = 0, is = -1, ran = 0;

	if (ev->before)
		ev->before(ev, ev->before_arg);
	for (int i = 0; i < ev->nfds; i++) {
		short events = (short)((ev->fds[i].mask & EV_READ ? POLLIN : 0) |
				       (ev->fds[i].mask & EV_WRITE ? POLLOUT : 0));
		gens[np] = ev->fds[i].gen;
		p[np++] = (struct pollfd){ .fd = ev->fds[i].fd, .events = events };
	}
	if (ev->nsigs) {
		is = np;
		p[np++] = (struct pollfd){ .fd = sig_fd(), .events = POLLIN };
	}
	uint64_t last_id = ev->timer_id;
	int n = poll(p, (nfds_t)np, next_timeout(ev, timeout_ms));
	if (n < 0 && errno != EINTR)
		return -errno;
	if (is >= 0 && (n < 0 || p[is].revents))
		ran += run_signals(ev);
	for (int i = 0; n > 0 && i < np; i++)
		if (i != is && p[i].revents)
			ran += dispatch(ev, p[i].fd, gens[i], p[i].revents);
	ran += run_timers(ev, last_id);
	return ran;
}

int ev_run(struct ev_loop *ev)
{
	ev->stop = false;
	while (!ev->stop) {
		int r = ev_once(ev, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void ev_stop(struct ev_loop *ev)
{
	ev->stop = true;
}
