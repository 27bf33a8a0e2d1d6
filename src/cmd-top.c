/*
 * cmd-top.c - `ferry top [-d SECS]`: a live full-screen view of the server.
 *
 * The agent streams compact samples (MON_SAMPLE, a few KiB: figures, not
 * screens); everything on screen is drawn here with ncurses, so a resize
 * or a sort key costs no round trip.  The loop polls the terminal, the
 * session and the signal pipe; nothing is done in a signal handler.
 *
 * `k` stops one of this user's running ferry jobs: pick it, confirm, and
 * the agent sends SIGTERM to the job's session (MON_KILL).  The job list
 * is the user's own (the agent reads this user's job folders, and signals
 * only processes of this user).
 */
#define _GNU_SOURCE
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "limits.h"
#include "mon-fmt.h"
#include "mon.h"
#include "session.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

#define TOP_HISTORY	120	/* GPU utilisation samples kept per GPU */
#define TOP_PROCS	30	/* top processes by CPU and by memory asked for */

enum sortkey { SORT_CPU, SORT_MEM, SORT_GPU, SORT_PID };
enum mode { MODE_VIEW, MODE_PICK, MODE_CONFIRM };

struct top {
	struct session *s;
	struct mon_sample cur;
	bool have;
	uint8_t hist[MON_GPUS_MAX][TOP_HISTORY];	/* utilisation %, 255 unknown */
	unsigned nhist[MON_GPUS_MAX];
	enum sortkey sort;
	enum mode mode;
	int pick;		/* index into the running jobs */
	char pick_id[MON_NAME_MAX + 1];
	char msg[600];		/* bottom line message */
	bool utf8;
	double delay;
};

static const char *const spark_utf8[] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
static const char spark_ascii[] = "_.-:=+*#";

/* Adds at most the columns left on the line. */
static void put(int y, int x, const char *s)
{
	if (y >= LINES || x >= COLS)
		return;
	mvaddnstr(y, x, s, COLS - x);
}

static void putf(int y, int x, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void putf(int y, int x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	put(y, x, s);
	free(s);
}

static void bar(char *b, size_t width, uint32_t pct100)
{
	size_t fill = pct100 == MON_NA ? 0 : (size_t)((uint64_t)pct100 * width / 10000);
	for (size_t i = 0; i < width; i++)
		b[i] = i < fill ? '|' : ' ';
	b[width] = '\0';
}

/* Can k stop it?  A running job, or a lost one: its supervisor is gone
 * but its processes may not be (the agent finds them, or says none is
 * left). */
static bool killable(const struct mon_job *j)
{
	return strcmp(j->state, "running") == 0 || strcmp(j->state, "lost") == 0;
}

static int running_jobs(const struct mon_sample *s, int *idx, int max)
{
	int n = 0;
	for (uint32_t i = 0; i < s->njobs && n < max; i++)
		if (killable(&s->jobs[i]))
			idx[n++] = (int)i;
	return n;
}

/* A process's place in the list: its key under the chosen sort (0 for
 * all when sorting by pid), carried beside it so that qsort needs no
 * global saying which sort is on. */
struct proc_order {
	uint64_t key;
	uint32_t pid;
	uint32_t i;
};

static uint64_t sort_key(const struct mon_proc *p, int sort)
{
	switch (sort) {
	case SORT_MEM: return p->rss;
	case SORT_GPU: return p->gpu_mem;
	case SORT_PID: return 0;
	default: return p->cpu;
	}
}

/* Largest key first, then lowest pid. */
static int cmp_proc(const void *a, const void *b)
{
	const struct proc_order *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void gpu_list(uint64_t mask, char *b, size_t n)
{
	size_t o = 0;
	b[0] = '\0';
	for (int k = 0; k < MON_GPU_MASK_BITS && o + 4 < n; k++)
		if (mask & (1ull << k))
			o += (size_t)snprintf(b + o, n - o, "%s%d", o ? "," : "", k);
	if (o == 0)
		snprintf(b, n, "-");
}

static int draw_cpus(struct top *t, int y, int rows)
{
	const struct mon_sample *s = &t->cur;
	char b[32], p[16];
	int cell = 16, cols = COLS / cell;
	if (cols < 1)
		cols = 1;
	if (s->ncpu > (uint32_t)(cols * rows) || s->ncpu == 0) {
		bar(b, 20, s->cpu_total);
		putf(y, 0, "CPU [%s%7s] %u cores (too many to show one by one here)", b,
		     fmt_pct(s->cpu_total, p, sizeof(p)), s->ncpu);
		return y + 1;
	}
	for (uint32_t i = 0; i < s->ncpu; i++) {
		bar(b, 5, s->cpu[i]);
		putf(y + (int)(i / (uint32_t)cols), (int)(i % (uint32_t)cols) * cell, "%3u[%s%6s]", i, b,
		     fmt_pct(s->cpu[i], p, sizeof(p)));
	}
	return y + (int)((s->ncpu + (uint32_t)cols - 1) / (uint32_t)cols);
}

static void draw(struct top *t)
{
	const struct mon_sample *s = &t->cur;
	char a[32], b[32], c[32], d[64];
	int y = 0;

	erase();
	if (!t->have) {
		putf(0, 0, "ferry top: waiting for the first sample from %s...", vis(t->s->label));
		goto bottom;
	}
	attron(A_BOLD);
	char *head0 = xasprintf("%s (%s)", vis(s->hostname), vis(t->s->label));
	put(y, 0, head0);
	attroff(A_BOLD);
	putf(y++, (int)strlen(head0) + 1, " up %s  load %u.%02u %u.%02u %u.%02u  %u task%s  cpu %s  every %.1fs",
	     fmt_uptime(s->uptime_s, a, sizeof(a)), s->load[0] == MON_NA ? 0 : s->load[0] / 100,
	     s->load[0] == MON_NA ? 0 : s->load[0] % 100, s->load[1] == MON_NA ? 0 : s->load[1] / 100,
	     s->load[1] == MON_NA ? 0 : s->load[1] % 100, s->load[2] == MON_NA ? 0 : s->load[2] / 100,
	     s->load[2] == MON_NA ? 0 : s->load[2] % 100, s->tasks, s->tasks == 1 ? "" : "s", fmt_pct(s->cpu_total, b, sizeof(b)), t->delay);
	free(head0);
	y = draw_cpus(t, y, LINES > 30 ? 4 : LINES > 20 ? 2 : 1);
	uint64_t used = s->mem_total != MON_NA64 && s->mem_avail != MON_NA64 ? s->mem_total - s->mem_avail : MON_NA64;
	uint64_t sw = s->swap_total != MON_NA64 && s->swap_free != MON_NA64 ? s->swap_total - s->swap_free : MON_NA64;
	char mb[24];
	bar(mb, 20, used != MON_NA64 && s->mem_total ? (uint32_t)(used * 10000 / s->mem_total) : MON_NA);
	char e[32], f[32], g3[32];
	putf(y++, 0, "Mem [%s] %s/%s  Swap %s/%s  PSI cpu %s mem %s io %s", mb, fmt_bytes(used, a, sizeof(a)),
	     fmt_bytes(s->mem_total, b, sizeof(b)), fmt_bytes(sw, c, sizeof(c)), fmt_bytes(s->swap_total, d, sizeof(d)),
	     fmt_pct(s->psi_cpu, e, sizeof(e)), fmt_pct(s->psi_mem, f, sizeof(f)), fmt_pct(s->psi_io, g3, sizeof(g3)));
	putf(y++, 0, "Disk %s %s free of %s  r %s/s w %s/s   Net rx %s/s tx %s/s", vis(s->disk_path),
	     fmt_bytes(s->disk_avail, a, sizeof(a)), fmt_bytes(s->disk_total, b, sizeof(b)),
	     fmt_bytes(s->disk_read, c, sizeof(c)), fmt_bytes(s->disk_write, d, sizeof(d)),
	     fmt_bytes(s->net_rx, e, sizeof(e)), fmt_bytes(s->net_tx, f, sizeof(f)));

	/* GPUs: one line each with its history, one line of processes. */
	if (s->ngpus == 0)
		putf(y++, 0, "GPU  none%s%s", s->gpu_note[0] ? ": " : "", vis(s->gpu_note));
	for (uint32_t i = 0; i < s->ngpus && y < LINES - 8; i++) {
		const struct mon_gpu *g = &s->gpus[i];
		char head[320];
		snprintf(head, sizeof(head), "GPU%-2u %-.22s %4s mem %s/%s %s %s ", g->index, vis(g->name),
			 g->util == MON_NA ? "-" : (snprintf(a, sizeof(a), "%u%%", g->util), a),
			 fmt_bytes(g->mem_used, b, sizeof(b)), fmt_bytes(g->mem_total, c, sizeof(c)),
			 g->temp == MON_NA ? "-" : (snprintf(d, sizeof(d), "%uC", g->temp), d),
			 g->power_mw == MON_NA ? "-" : (snprintf(e, sizeof(e), "%uW", (g->power_mw + 500) / 1000), e));
		put(y, 0, head);
		int x = (int)strlen(head), w = COLS - x;
		unsigned gi = g->index < MON_GPUS_MAX ? g->index : 0, n = t->nhist[gi];
		if (w > 0) {
			unsigned show = n < (unsigned)w ? n : (unsigned)w;
			for (unsigned k = 0; k < show; k++) {
				uint8_t v = t->hist[gi][(n - show + k) % TOP_HISTORY];
				int lvl = v == 255 ? 0 : v * 7 / 100;
				if (t->utf8)
					mvaddstr(y, x + (int)k, spark_utf8[lvl]);
				else
					mvaddch(y, x + (int)k, (chtype)(v == 255 ? '?' : spark_ascii[lvl]));
			}
		}
		y++;
		char line[512];
		size_t o = 0;
		line[0] = '\0';
		for (uint32_t k = 0; k < g->nprocs && o + 80 < sizeof(line); k++) {
			const struct mon_gpu_proc *p = &g->procs[k];
			char jl[96];
			o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%u %s%s%s %s", k ? "  " : "", p->pid,
					      fmt_user(s, p->uid, a, sizeof(a)), p->job == MON_NOJOB ? "" : " job ",
					      p->job == MON_NOJOB ? "" : fmt_job(&s->jobs[p->job], jl, sizeof(jl)),
					      fmt_bytes(p->mem, b, sizeof(b)));
		}
		putf(y++, 6, "%s", g->nprocs ? line : "no processes");
	}

	/* Users. */
	attron(A_REVERSE);
	putf(y++, 0, "%-14s %7s %7s %7s %-8s %5s%*s", "USER", "CPU", "MEM", "GPUMEM", "GPUS", "PROCS", COLS, "");
	attroff(A_REVERSE);
	for (uint32_t i = 0; i < s->nusers && i < 4 && y < LINES - 6; i++) {
		const struct mon_user *u = &s->users[i];
		gpu_list(u->gpus, d, sizeof(d));
		putf(y++, 0, "%-14.14s %7s %7s %7s %-8s %5u", vis(u->name), fmt_pct(u->cpu, a, sizeof(a)),
		     fmt_bytes(u->rss, b, sizeof(b)), fmt_bytes(u->gpu_mem, c, sizeof(c)), d, u->nprocs);
	}
	/* Your jobs. */
	attron(A_REVERSE);
	putf(y++, 0, "%-14s %-10s %7s %7s %7s %-8s %5s%*s", "JOB", "STATE", "CPU", "MEM", "GPUMEM", "GPUS", "PROCS", COLS, "");
	attroff(A_REVERSE);
	if (s->njobs == 0 && y < LINES - 3)
		putf(y++, 0, "(no ferry jobs)");
	for (uint32_t i = 0; i < s->njobs && i < 5 && y < LINES - 4; i++) {
		const struct mon_job *j = &s->jobs[i];
		bool run = strcmp(j->state, "running") == 0;
		gpu_list(j->gpus, d, sizeof(d));
		if (t->mode != MODE_VIEW && killable(j) && strcmp(j->id, t->pick_id) == 0)
			attron(A_REVERSE);
		char jl[96];
		fmt_job(j, jl, sizeof(jl));
		if (run)
			putf(y++, 0, "%-14.14s %-10.10s %7s %7s %7s %-8s %5u", jl, vis(j->state), fmt_pct(j->cpu, a, sizeof(a)),
			     fmt_bytes(j->rss, b, sizeof(b)), fmt_bytes(j->gpu_mem, c, sizeof(c)), d, j->nprocs);
		else
			putf(y++, 0, "%-14.14s %s", jl, vis(j->state));
		attroff(A_REVERSE);
	}
	/* Processes, sorted here. */
	static const char *const sortname[] = { "cpu", "mem", "gpu", "pid" };
	attron(A_REVERSE);
	putf(y++, 0, "%7s %-10s %-10s %6s %7s %7s %1s %4s %-s (sort: %s)%*s", "PID", "USER", "JOB", "CPU", "MEM",
	     "GPUMEM", "S", "THR", "COMMAND", sortname[t->sort], COLS, "");
	attroff(A_REVERSE);
	struct proc_order *order = xcalloc(s->nprocs ? s->nprocs : 1, sizeof(*order));
	for (uint32_t i = 0; i < s->nprocs; i++)
		order[i] = (struct proc_order){ sort_key(&s->procs[i], t->sort), s->procs[i].pid, i };
	qsort(order, s->nprocs, sizeof(*order), cmp_proc);
	for (uint32_t i = 0; i < s->nprocs && y < LINES - 1; i++) {
		const struct mon_proc *p = &s->procs[order[i].i];
		char thr[16], jl[96];
		char *cmd = fmt_proc_command(p);
		snprintf(thr, sizeof(thr), "%u", p->threads);
		putf(y++, 0, "%7u %-10.10s %-10.10s %6s %7s %7s %c %4s %s", p->pid, fmt_user(s, p->uid, a, sizeof(a)),
		     p->job == MON_NOJOB ? "-" : fmt_job(&s->jobs[p->job], jl, sizeof(jl)), fmt_pct(p->cpu, b, sizeof(b)),
		     fmt_bytes(p->rss, c, sizeof(c)), p->gpu_mem ? fmt_bytes(p->gpu_mem, d, sizeof(d)) : "-",
		     p->state >= 0x21 && p->state < 0x7f ? p->state : '?', p->threads == MON_NA ? "-" : thr, cmd);
		free(cmd);
	}
	free(order);
bottom:
	attron(A_REVERSE);
	if (t->mode == MODE_PICK)
		putf(LINES - 1, 0, "stop which job? %s   Tab/arrows: next  Enter: choose  Esc: cancel%*s", vis(t->pick_id), COLS, "");
	else if (t->mode == MODE_CONFIRM)
		putf(LINES - 1, 0, "send SIGTERM to job %s and all its processes? [y/N]%*s", vis(t->pick_id), COLS, "");
	else if (t->msg[0])
		putf(LINES - 1, 0, "%s%*s", vis(t->msg), COLS, "");
	else
		putf(LINES - 1, 0, "q quit  c/m/g/p sort by cpu/mem/gpu/pid  k stop a job%*s", COLS, "");
	attroff(A_REVERSE);
	refresh();
}

static void on_sample(struct top *t, struct mon_sample *s)
{
	mon_sample_release(&t->cur);
	t->cur = *s;
	t->have = true;
	for (uint32_t i = 0; i < s->ngpus; i++) {
		unsigned gi = s->gpus[i].index;
		if (gi >= MON_GPUS_MAX)
			continue;
		t->hist[gi][t->nhist[gi] % TOP_HISTORY] = s->gpus[i].util == MON_NA ? 255 : (uint8_t)(s->gpus[i].util > 100 ? 100 : s->gpus[i].util);
		t->nhist[gi]++;
		if (t->nhist[gi] >= 2 * TOP_HISTORY)
			t->nhist[gi] -= TOP_HISTORY;
	}
}

static void pick_set(struct top *t, int delta)
{
	int idx[MON_JOBS_MAX];
	int n = running_jobs(&t->cur, idx, MON_JOBS_MAX);
	if (n == 0) {
		t->mode = MODE_VIEW;
		snprintf(t->msg, sizeof(t->msg), "you have no running ferry jobs on %s", t->s->label);
		return;
	}
	t->pick = ((t->pick + delta) % n + n) % n;
	snprintf(t->pick_id, sizeof(t->pick_id), "%s", t->cur.jobs[idx[t->pick]].id);
}

/* One key; false to quit. */
static bool on_key(struct top *t, int ch)
{
	if (t->mode == MODE_PICK) {
		if (ch == 27 || ch == 'q')
			t->mode = MODE_VIEW;
		else if (ch == '\t' || ch == KEY_DOWN || ch == KEY_RIGHT || ch == 'j')
			pick_set(t, 1);
		else if (ch == KEY_UP || ch == KEY_LEFT || ch == KEY_BTAB)
			pick_set(t, -1);
		else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			t->mode = MODE_CONFIRM;
		return true;
	}
	if (t->mode == MODE_CONFIRM) {
		if (ch == 'y' || ch == 'Y') {
			struct buf b;
			buf_init(&b, FRAME_MAX);
			mon_kill_encode(t->pick_id, WSIG_TERM, &b);
			conn_queue(&t->s->c, MSG_MON_KILL, b.data, b.len);
			buf_release(&b);
			snprintf(t->msg, sizeof(t->msg), "stopping job %s...", t->pick_id);
		} else {
			snprintf(t->msg, sizeof(t->msg), "not stopped");
		}
		t->mode = MODE_VIEW;
		return true;
	}
	switch (ch) {
	case 'q': case 'Q': case 3: /* Ctrl-C: the terminal is raw */
		return false;
	case 'c': t->sort = SORT_CPU; break;
	case 'm': t->sort = SORT_MEM; break;
	case 'g': t->sort = SORT_GPU; break;
	case 'p': t->sort = SORT_PID; break;
	case 'k':
		t->msg[0] = '\0';
		t->mode = MODE_PICK;
		t->pick = 0;
		pick_set(t, 0);
		break;
	default:
		break;
	}
	return true;
}

/* Handles the frames that arrived.  0, 1 when the stream ended, -1 with
 * e set. */
static int on_frames(struct top *t, struct ferr *e)
{
	uint16_t type;
	struct rd body;
	int r;
	while ((r = conn_next(&t->s->c, &type, &body)) == 1) {
		if (type == MSG_MON_SAMPLE) {
			struct mon_sample s;
			if (mon_sample_decode(&body, &s) < 0) {
				ferr_set(e, EXIT_PROTO, NULL, "malformed sample from the agent on '%s'", t->s->label);
				return -1;
			}
			on_sample(t, &s);
		} else if (type == MSG_MON_KILL_REPLY) {
			uint32_t err;
			char *msg;
			if (mon_kill_reply_decode(&body, &err, &msg) < 0) {
				ferr_set(e, EXIT_PROTO, NULL, "malformed reply from the agent on '%s'", t->s->label);
				return -1;
			}
			snprintf(t->msg, sizeof(t->msg), "%s%s", err ? "cannot stop: " : "", msg);
			free(msg);
		} else if (type == MSG_MON_END) {
			return 1;
		} else if (type == MSG_ERROR) {
			(void)err_from_peer(&body, t->s->label, e);
			return -1;
		} else {
			ferr_set(e, EXIT_PROTO, NULL, "unexpected message 0x%04x from the agent on '%s'", type, t->s->label);
			return -1;
		}
	}
	if (r < 0) {
		ferr_set(e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", t->s->label);
		return -1;
	}
	return 0;
}

int cmd_top(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double delay = 1.0;
	int c;
	while ((c = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': {
			char *end;
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(delay >= MON_INTERVAL_MIN_MS / 1000.0) ||
			    delay > MON_INTERVAL_MAX_MS / 1000.0)
				cmd_usage_die("top", "-d wants seconds between %.1f and %d, not '%s'",
					      MON_INTERVAL_MIN_MS / 1000.0, MON_INTERVAL_MAX_MS / 1000, optarg);
			break;
		}
		case 'h': cmd_usage("top", 0); return 0;
		default: cmd_usage("top", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("top", "unexpected '%s'", argv[optind]);
	if (!isatty(0) || !isatty(1))
		die(EXIT_USAGE, "ferry top needs a terminal; `ferry status --json` is the one-shot for scripts");

	struct config cfg;
	cmd_load_config(&cfg, ctx->dir);
	struct mon_req q = { .interval_ms = (uint32_t)(delay * 1000 + 0.5), .count = 0, .nprocs = TOP_PROCS,
			     .root = cfg.path };
	struct buf b;
	buf_init(&b, FRAME_MAX);
	mon_req_encode(&q, &b);
	struct session s;
	struct ferr e = { 0 };
	struct session_opts so = { 0 };
	if (session_open(&s, &cfg, &so, MSG_MON_REQ, &b, &e) < 0)
		ferr_die(&e);
	buf_release(&b);

	struct top *t = xcalloc(1, sizeof(*t));
	t->s = &s;
	t->delay = delay;
	setlocale(LC_ALL, "");
	t->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	sig_watch(SIGTERM);
	sig_watch(SIGHUP);
	initscr();
	raw();
	noecho();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	draw(t);

	int code = 0;
	bool stopping = false;
	for (;;) {
		struct pollfd pf[4] = {
			{ .fd = 0, .events = POLLIN },
			{ .fd = s.c.rfd, .events = POLLIN },
			{ .fd = s.c.out.len ? s.c.wfd : -1, .events = POLLOUT },
			{ .fd = sig_fd(), .events = POLLIN },
		};
		int pr = poll(pf, 4, stopping ? 3000 : -1);
		if ((pr < 0 && errno != EINTR) || (pr == 0 && stopping))
			break;	/* an agent that does not end the stream in 3 s is not waited for */
		bool redraw = false;
		if (pf[3].revents) {
			sig_drain();
			if (sig_take(SIGTERM) || sig_take(SIGHUP))
				break;
		}
		int ch;
		while ((ch = getch()) != ERR) {
			redraw = true;
			if (ch == KEY_RESIZE)
				continue;
			if (!stopping && !on_key(t, ch)) {
				conn_queue(&s.c, MSG_MON_STOP, NULL, 0);
				stopping = true;
			}
		}
		if (pf[2].revents && conn_flush_some(&s.c) < 0) {
			session_lost(&s, true, &e);
			code = -1;
			break;
		}
		if (pf[1].revents) {
			int fr = conn_fill(&s.c);
			if (fr == 0 || (fr < 0 && fr != -EAGAIN)) {
				session_lost(&s, true, &e);
				code = -1;
				break;
			}
			int r = on_frames(t, &e);
			if (r < 0) {
				code = -1;
				break;
			}
			if (r == 1)
				break;
			redraw = true;
		}
		if (redraw && !stopping)
			draw(t);
	}
	endwin();
	if (code < 0)
		ferr_die(&e);
	session_close(&s);
	mon_sample_release(&t->cur);
	free(t);
	config_release(&cfg);
	return 0;
}
