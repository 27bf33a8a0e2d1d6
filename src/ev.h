/*
 * ev.h - the event loop: file descriptors, monotonic timers and signals,
 * dispatched from one poll(2) per turn (docs/event-loop.md says why our
 * own, and why poll).
 *
 * Handlers run on the loop's thread, one at a time; any of them may add or
 * remove fds, timers and signals, its own included, and the loop never
 * calls a handler that was removed earlier in the same turn.  A signal
 * handler is an ordinary callback: sig.c's async handler only counts and
 * pokes a self-pipe, the loop reads the counts.
 */
#ifndef FERRY_EV_H
#define FERRY_EV_H

#include <stdint.h>

#define EV_READ		0x1
#define EV_WRITE	0x2
#define EV_TIMER_END	(-1)	/* a timer handler's return: do not re-arm */

struct ev_loop;
typedef void ev_fd_fn(struct ev_loop *ev, int fd, int mask, void *arg);
/* Returns the ms until it runs again, or EV_TIMER_END. */
typedef int64_t ev_timer_fn(struct ev_loop *ev, uint64_t id, void *arg);
/* count: how many times signo came since the last call (at least 1). */
typedef void ev_sig_fn(struct ev_loop *ev, int signo, int count, void *arg);
/* Runs before each poll, e.g. to decide which fds want writing. */
typedef void ev_before_fn(struct ev_loop *ev, void *arg);

struct ev_loop *ev_new(void);
/* Unwatches the loop's signals; closes no fd. NULL is fine. */
void ev_free(struct ev_loop *ev);

/* Interest in fd: mask's bits are added with fn as their handler (one
 * read and one write handler per fd, as in redis's ae).  0, or -ENOSPC
 * past EV_FDS_MAX fds. */
int ev_fd_add(struct ev_loop *ev, int fd, int mask, ev_fd_fn *fn, void *arg);
/* Drops mask's bits of interest; the fd is forgotten with the last. */
void ev_fd_del(struct ev_loop *ev, int fd, int mask);
/* The bits of interest fd has now (0 for an unknown fd). */
int ev_fd_mask(const struct ev_loop *ev, int fd);

/* A timer in ms from now (0: the next turn).  Its id, never 0. */
uint64_t ev_timer_add(struct ev_loop *ev, uint64_t ms, ev_timer_fn *fn, void *arg);
/* 0, or -ENOENT for an id that already ran out or was never there. */
int ev_timer_del(struct ev_loop *ev, uint64_t id);

/* Handles signo through sig.c (sigaction, self-pipe); one handler per
 * signal.  ev_sig_del puts the default disposition back. */
int ev_sig_add(struct ev_loop *ev, int signo, ev_sig_fn *fn, void *arg);
void ev_sig_del(struct ev_loop *ev, int signo);

void ev_set_before(struct ev_loop *ev, ev_before_fn *fn, void *arg);

/* One turn: the before hook, one poll (at most timeout_ms; -1 = until
 * something happens, bounded by the next timer), then every ready
 * handler and due timer.  The number of handlers run, or -errno from
 * poll (never -EINTR: a signal is an event). */
int ev_once(struct ev_loop *ev, int timeout_ms);
/* Turns until ev_stop; 0, or a poll error. */
int ev_run(struct ev_loop *ev);
void ev_stop(struct ev_loop *ev);

#endif
