/*
 * test-ev.c - the event loop: fd readiness, removal inside a turn, timers
 * (order, re-arming, deletion) and signals through the self-pipe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ev.h"
#include "limits.h"
#include "t.h"
#include "util.h"

struct rec {
	int reads, writes;
	int other_fd;		/* removed by the handler when >= 0 */
	char got[16];
};

static void on_read(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct rec *r = arg;
	r->reads++;
	ssize_t n = read(fd, r->got, sizeof(r->got) - 1);
	r->got[n > 0 ? n : 0] = '\0';
	if (r->other_fd >= 0)
		ev_fd_del(ev, r->other_fd, EV_READ);
}

static void on_write(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct rec *r = arg;
	r->writes++;
	(void)!write(fd, "hi", 2);
	ev_fd_del(ev, fd, EV_WRITE);
}

static void test_fds(void)
{
	t_case = "ev fds";
	int a[2], b[2];
	CHECK(pipe2(a, O_CLOEXEC | O_NONBLOCK) == 0 && pipe2(b, O_CLOEXEC | O_NONBLOCK) == 0);
	struct ev_loop *ev = ev_new();
	struct rec ra = { .other_fd = -1 }, rw = { .other_fd = -1 };
	CHECK(ev_fd_add(ev, a[0], EV_READ, on_read, &ra) == 0);
	CHECK(ev_fd_add(ev, a[1], EV_WRITE, on_write, &rw) == 0);
	CHECK(ev_fd_mask(ev, a[0]) == EV_READ);
	/* Nothing readable yet: the writer runs, then the reader sees it. */
	CHECK(ev_once(ev, 1000) == 1);
	CHECK(rw.writes == 1 && ra.reads == 0);
	CHECK(ev_fd_mask(ev, a[1]) == 0);
	CHECK(ev_once(ev, 1000) == 1);
	CHECK(ra.reads == 1);
	CHECK_STR(ra.got, "hi");
	/* Nothing ready: a timeout, no handler. */
	CHECK(ev_once(ev, 10) == 0);

	/* Two fds ready in one turn; the first handler removes the second:
	 * it must not run. */
	struct rec r1 = { .other_fd = b[0] }, r2 = { .other_fd = a[0] };
	ev_fd_del(ev, a[0], EV_READ);
	CHECK(ev_fd_add(ev, a[0], EV_READ, on_read, &r1) == 0);
	CHECK(ev_fd_add(ev, b[0], EV_READ, on_read, &r2) == 0);
	(void)!write(a[1], "x", 1);
	(void)!write(b[1], "y", 1);
	CHECK(ev_once(ev, 1000) == 1);
	CHECK(r1.reads + r2.reads == 1);
	/* EOF is readiness too (after what the removed handler left). */
	char drain[8];
	(void)!read(a[0], drain, sizeof(drain));
	(void)!read(b[0], drain, sizeof(drain));
	close(a[1]);
	close(b[1]);
	struct rec r3 = { .other_fd = -1 };
	ev_fd_del(ev, a[0], EV_READ);
	ev_fd_del(ev, b[0], EV_READ);
	CHECK(ev_fd_add(ev, b[0], EV_READ, on_read, &r3) == 0);
	CHECK(ev_once(ev, 1000) == 1 && r3.reads == 1 && r3.got[0] == '\0');
	ev_fd_del(ev, b[0], EV_READ);
	CHECK(ev_fd_mask(ev, b[0]) == 0);

	/* The table is bounded. */
	int added = 0;
	for (int i = 0; i < EV_FDS_MAX + 1; i++)
		if (ev_fd_add(ev, 1000 + i, EV_READ, on_read, &r3) == 0)
			added++;
	CHECK(added == EV_FDS_MAX);
	CHECK(ev_fd_add(ev, 5000, EV_READ, on_read, &r3) == -ENOSPC);
	ev_free(ev);
	close(a[0]);
	close(b[0]);
}

struct tick {
	int runs;
	int order;
	int *seq;
	int again;		/* ms to re-arm, runs times */
	int max_runs;
	uint64_t kill;		/* a timer id to delete from the handler */
};

static int64_t on_timer(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct tick *t = arg;
	t->runs++;
	t->order = ++*t->seq;
	if (t->kill)
		CHECK(ev_timer_del(ev, t->kill) == 0);
	return t->runs < t->max_runs ? t->again : EV_TIMER_END;
}

static void test_timers(void)
{
	t_case = "ev timers";
	struct ev_loop *ev = ev_new();
	int seq = 0;
	struct tick late = { .seq = &seq, .max_runs = 1 }, soon = { .seq = &seq, .max_runs = 1 };
	struct tick rep = { .seq = &seq, .again = 5, .max_runs = 3 };
	uint64_t t0 = now_mono_ns();
	uint64_t idl = ev_timer_add(ev, 60, on_timer, &late);
	CHECK(ev_timer_add(ev, 20, on_timer, &soon) != idl);
	for (int i = 0; i < 50 && late.runs == 0; i++)
		CHECK(ev_once(ev, -1) >= 0);
	CHECK(soon.runs == 1 && late.runs == 1);
	CHECK(soon.order < late.order);
	/* poll's timeout came from the timer: we slept, we did not spin. */
	CHECK(now_mono_ns() - t0 >= 60 * 1000000ull);
	/* Ran out: gone. */
	CHECK(ev_timer_del(ev, idl) == -ENOENT);

	ev_timer_add(ev, 0, on_timer, &rep);
	for (int i = 0; i < 50 && rep.runs < 3; i++)
		(void)ev_once(ev, -1);
	CHECK(rep.runs == 3);
	CHECK(ev_once(ev, 10) == 0 && rep.runs == 3);

	/* A handler deletes another timer due in the same turn. */
	struct tick victim = { .seq = &seq, .max_runs = 1 }, killer = { .seq = &seq, .max_runs = 1 };
	/* The killer first in the table, so it runs first. */
	uint64_t k = ev_timer_add(ev, 0, on_timer, &killer);
	killer.kill = ev_timer_add(ev, 5, on_timer, &victim);
	CHECK(k != 0 && killer.kill != k);
	usleep(10000);
	(void)ev_once(ev, 0);
	CHECK(killer.runs == 1);
	CHECK(victim.runs == 0);
	ev_free(ev);
}

struct sigrec {
	int count;
	int signo;
};

static void on_sig(struct ev_loop *ev, int signo, int count, void *arg)
{
	struct sigrec *s = arg;
	s->count += count;
	s->signo = signo;
	ev_stop(ev);
}

static void test_signals(void)
{
	t_case = "ev signals";
	struct ev_loop *ev = ev_new();
	struct sigrec s = { 0 };
	CHECK(ev_sig_add(ev, SIGUSR1, on_sig, &s) == 0);
	CHECK(ev_sig_add(ev, 0, on_sig, &s) == -EINVAL);
	raise(SIGUSR1);
	raise(SIGUSR1);
	CHECK(ev_run(ev) == 0);
	CHECK(s.signo == SIGUSR1);
	CHECK(s.count == 2);
	ev_sig_del(ev, SIGUSR1);
	struct sigaction sa;
	CHECK(sigaction(SIGUSR1, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL);
	ev_free(ev);
}

void test_ev(void)
{
	test_fds();
	test_timers();
	test_signals();
}
