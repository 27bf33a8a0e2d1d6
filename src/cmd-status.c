/*
 * cmd-status.c - `ferry status [--json]`: the server once (host, disk,
 * network, GPUs, users, this user's ferry jobs), and the sync state of the
 * project.
 *
 * The sync state is a real dry-run push (sync_push, on the same session
 * as the sample, on channel 0 while the monitor streams on another), so
 * it says exactly what a push would do: nothing (up to date), N files to
 * send or delete, or conflicts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "limits.h"
#include "mon-fmt.h"
#include "mon.h"
#include "session.h"
#include "sync-push.h"
#include "util.h"

#include "banned.h"

#define STATUS_INTERVAL_MS	500	/* CPU rates are measured over this */
#define STATUS_PROCS		8
#define STATUS_MON_CHAN		1	/* the monitor stream beside the dry run */

/* The sync state: a dry-run push (sync_push) on a thread of its own,
 * with its own session, while the agent measures.  The agent answers a
 * dry run without waiting for a sync that runs (agent-sync.c), so a
 * status during a long push is as quick as any other. */
struct syncstate {
	const struct config *cfg;
	pthread_t th;
	bool started;
	/* The result. */
	bool known;
	unsigned long long send, del, conflicts;
	char why[200];
};

/* The walk's warnings are the push's to say, not the status's (the
 * dry run used to be a child whose stderr nobody showed). */
static void quiet_warn(void *arg, bool is_error, const char *msg)
{
	(void)arg;
	(void)is_error;
	(void)msg;
}

/* A dry run on session (NULL: one of its own), into ss. */
static void sync_run(struct syncstate *ss, struct session *session)
{
	const struct sync_push_opts o = { .dry_run = true, .batch = true, .session = session };
	const struct sync_push_hooks h = { .scan_warn = quiet_warn };
	struct sync_push_result r;
	struct ferr e = { 0 };
	if (sync_push(ss->cfg, &o, &h, &r, NULL, &e) < 0) {
		snprintf(ss->why, sizeof(ss->why), "%.*s", STATUS_WHY_SHOWN, e.msg ? e.msg : "dry-run push failed");
	} else if (r.guard) {
		char *names = path_sample_text(&r.deleted_paths);
		char *line = xasprintf("this push would delete %u of the %u files ferry put on %s: %s", r.plan_deletes,
				       r.indexed, r.label, names);
		snprintf(ss->why, sizeof(ss->why), "%.*s", STATUS_WHY_SHOWN, line);
		free(line);
		free(names);
	} else {
		ss->known = true;
		ss->send = r.need;
		ss->del = r.deletes;
		ss->conflicts = r.conflicts;
	}
	sync_push_result_release(&r);
	ferr_release(&e);
}

static void *sync_main(void *arg)
{
	sync_run(arg, NULL);
	return NULL;
}

static void sync_start(struct syncstate *ss, const struct config *cfg)
{
	ss->cfg = cfg;
	ss->started = pthread_create(&ss->th, NULL, sync_main, ss) == 0;
	if (!ss->started)
		snprintf(ss->why, sizeof(ss->why), "cannot run a dry-run push");
}

static void sync_finish(struct syncstate *ss)
{
	if (ss->started)
		pthread_join(ss->th, NULL);
}

static const char *sync_words(const struct syncstate *ss, char *b, size_t n)
{
	if (!ss->known)
		snprintf(b, n, "unknown (%s)", ss->why);
	else if (ss->conflicts)
		snprintf(b, n, "%llu conflict%s, %llu file%s differ%s", ss->conflicts, ss->conflicts == 1 ? "" : "s",
			 ss->send + ss->del, ss->send + ss->del == 1 ? "" : "s", ss->send + ss->del == 1 ? "s" : "");
	else if (ss->send + ss->del)
		snprintf(b, n, "%llu file%s differ%s (%llu to send, %llu to delete): run `ferry push`", ss->send + ss->del,
			 ss->send + ss->del == 1 ? "" : "s", ss->send + ss->del == 1 ? "s" : "", ss->send, ss->del);
	else
		snprintf(b, n, "up to date");
	return b;
}

static void print_text(const struct mon_sample *s, const struct syncstate *ss, const char *label)
{
	char a[32], b[32], c[32], d[32];
	static const char *const src[] = { "", "NVML", "nvidia-smi" };

	printf("host      %s (%s)  up %s  %u task%s\n", vis(s->hostname), vis(label), fmt_uptime(s->uptime_s, a, sizeof(a)), s->tasks,
	       s->tasks == 1 ? "" : "s");
	printf("cpu       %s of %u core%s", fmt_pct(s->cpu_total, a, sizeof(a)), s->ncpu, s->ncpu == 1 ? "" : "s");
	if (s->load[0] != MON_NA)
		printf("  load %u.%02u %u.%02u %u.%02u", s->load[0] / 100, s->load[0] % 100, s->load[1] / 100,
		       s->load[1] % 100, s->load[2] / 100, s->load[2] % 100);
	printf("\n");
	uint64_t used = s->mem_total != MON_NA64 && s->mem_avail != MON_NA64 ? s->mem_total - s->mem_avail : MON_NA64;
	uint64_t sw = s->swap_total != MON_NA64 && s->swap_free != MON_NA64 ? s->swap_total - s->swap_free : MON_NA64;
	printf("memory    %s used of %s  swap %s of %s\n", fmt_bytes(used, a, sizeof(a)), fmt_bytes(s->mem_total, b, sizeof(b)),
	       fmt_bytes(sw, c, sizeof(c)), fmt_bytes(s->swap_total, d, sizeof(d)));
	if (s->psi_cpu != MON_NA || s->psi_mem != MON_NA || s->psi_io != MON_NA)
		printf("pressure  cpu %s  memory %s  io %s\n", fmt_pct(s->psi_cpu, a, sizeof(a)), fmt_pct(s->psi_mem, b, sizeof(b)),
		       fmt_pct(s->psi_io, c, sizeof(c)));
	printf("disk      %s: %s free of %s", vis(s->disk_path), fmt_bytes(s->disk_avail, a, sizeof(a)),
	       fmt_bytes(s->disk_total, b, sizeof(b)));
	if (s->disk_read != MON_NA64)
		printf("  read %s/s  write %s/s", fmt_bytes(s->disk_read, a, sizeof(a)), fmt_bytes(s->disk_write, b, sizeof(b)));
	printf("\n");
	printf("network   rx %s/s  tx %s/s\n", fmt_bytes(s->net_rx, a, sizeof(a)), fmt_bytes(s->net_tx, b, sizeof(b)));
	if (s->ngpus == 0)
		printf("gpus      none%s%s%s\n", s->gpu_note[0] ? " (" : "", vis(s->gpu_note), s->gpu_note[0] ? ")" : "");
	else
		printf("gpus      %u (%s)%s%s\n", s->ngpus, src[s->gpu_source <= 2 ? s->gpu_source : 0],
		       s->gpu_note[0] ? "  " : "", vis(s->gpu_note));
	for (uint32_t i = 0; i < s->ngpus; i++) {
		const struct mon_gpu *g = &s->gpus[i];
		printf("  gpu %-3u %s  util %s  mem %s/%s", g->index, vis(g->name),
		       g->util == MON_NA ? "-" : (snprintf(a, sizeof(a), "%u%%", g->util), a),
		       fmt_bytes(g->mem_used, b, sizeof(b)), fmt_bytes(g->mem_total, c, sizeof(c)));
		if (g->temp != MON_NA)
			printf("  %uC", g->temp);
		if (g->power_mw != MON_NA)
			printf("  %uW", (g->power_mw + 500) / 1000);
		printf("\n");
		for (uint32_t k = 0; k < g->nprocs; k++) {
			const struct mon_gpu_proc *p = &g->procs[k];
			char jl[96];
			printf("          pid %-8u %-12s %-14s %s\n", p->pid, fmt_user(s, p->uid, a, sizeof(a)),
			       p->job == MON_NOJOB ? "-" : fmt_job(&s->jobs[p->job], jl, sizeof(jl)),
			       fmt_bytes(p->mem, b, sizeof(b)));
		}
	}
	printf("users     %-14s %7s %7s %7s  %-8s %s\n", "USER", "CPU", "MEM", "GPUMEM", "GPUS", "PROCS");
	for (uint32_t i = 0; i < s->nusers && i < STATUS_USERS_SHOWN; i++) {
		const struct mon_user *u = &s->users[i];
		char g[64] = "-";
		for (int k = 0, o = 0; k < MON_GPU_MASK_BITS; k++)
			if (u->gpus & (1ull << k) && o < 56)
				o += snprintf(g + o, sizeof(g) - (size_t)o, "%s%d", o ? "," : "", k);
		printf("          %-14s %7s %7s %7s  %-8s %u\n", vis(u->name), fmt_pct(u->cpu, a, sizeof(a)),
		       fmt_bytes(u->rss, b, sizeof(b)), fmt_bytes(u->gpu_mem, c, sizeof(c)), g, u->nprocs);
	}
	if (s->njobs == 0)
		printf("jobs      none\n");
	else
		printf("jobs      %-14s %-10s %7s %7s %7s  %-8s %s\n", "ID", "STATE", "CPU", "MEM", "GPUMEM", "GPUS", "PROCS");
	for (uint32_t i = 0; i < s->njobs; i++) {
		const struct mon_job *j = &s->jobs[i];
		bool run = strcmp(j->state, "running") == 0;
		char g[64] = "-";
		for (int k = 0, o = 0; k < MON_GPU_MASK_BITS; k++)
			if (j->gpus & (1ull << k) && o < 56)
				o += snprintf(g + o, sizeof(g) - (size_t)o, "%s%d", o ? "," : "", k);
		char jl[96];
		fmt_job(j, jl, sizeof(jl));
		if (run)
			printf("          %-14s %-10s %7s %7s %7s  %-8s %u\n", jl, vis(j->state), fmt_pct(j->cpu, a, sizeof(a)),
			       fmt_bytes(j->rss, b, sizeof(b)), fmt_bytes(j->gpu_mem, c, sizeof(c)), g, j->nprocs);
		else
			printf("          %-14s %s\n", jl, vis(j->state));
	}
	char w[300];
	printf("sync      %s\n", vis(sync_words(ss, w, sizeof(w))));
}

/* The monitor's answer: one sample, then its end. */
struct monread {
	struct session *s;
	uint16_t chan;			/* the stream's channel */
	struct mon_sample smp;
	bool have, done;
	struct ferr e;			/* what went wrong, code 0 if nothing */
};

/* One frame of the monitor stream: 0, or -1 with m->e set. */
static int mon_frame(struct monread *m, uint16_t type, struct rd *body)
{
	const char *label = m->s->label;
	switch (type) {
	case MSG_MON_SAMPLE:
		if (!m->have && mon_sample_decode(body, &m->smp) == 0) {
			m->have = true;
			return 0;
		}
		break;
	case MSG_MON_END:
		m->done = true;
		return 0;
	case MSG_ERROR:
		(void)err_from_peer(body, label, &m->e);
		return -1;
	case MSG_CHAN_CLOSE:		/* the agent's end, after MON_END */
	case MSG_CHAN_WINDOW:
		return 0;
	}
	ferr_set(&m->e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type,
		 label);
	return -1;
}

/* While the dry run holds channel 0: the monitor's frames on its own. */
static int mon_divert(struct conn *c, uint16_t chan, uint16_t type, struct rd *body, void *arg)
{
	struct monread *m = arg;
	if (chan != m->chan) {
		ferr_set(&m->e, EXIT_PROTO, NULL, "a frame on channel %u from the agent on '%s'", chan, m->s->label);
		return -EBADMSG;
	}
	/* A monitor failure is kept for later (m->e): the dry run goes on. */
	if (m->e.code == 0)
		(void)mon_frame(m, type, body);
	return 0;
}

/* Reads the rest of the monitor stream; dies on a failure. */
static void mon_finish(struct monread *m)
{
	struct session *s = m->s;
	while (!m->done && m->e.code == 0) {
		uint16_t type;
		struct rd body;
		int r = conn_read(&s->c, &type, &body);
		if (r <= 0) {
			err_from_read(s, r, false, &m->e);
			break;
		}
		if (s->c.chan != m->chan) {
			ferr_set(&m->e, EXIT_PROTO, NULL, "unexpected message 0x%04x from the agent on '%s'", type,
				 s->label);
			break;
		}
		(void)mon_frame(m, type, &body);
	}
	if (m->e.code)
		ferr_die(&m->e);
	if (!m->have)
		die(EXIT_PROTO, "the agent on '%s' sent no sample", s->label);
}

/* The sample and the dry run.  With channels (every agent of this build)
 * one session carries both: the monitor stream on STATUS_MON_CHAN while
 * the dry run holds channel 0, one connection instead of two.  Without,
 * the dry run gets a session of its own on a thread, as before. */
static void status_gather(const struct config *cfg, struct syncstate *ss, struct monread *m, char **label)
{
	struct mon_req q = { .interval_ms = STATUS_INTERVAL_MS, .count = 1, .nprocs = STATUS_PROCS, .root = cfg->path };
	struct session s;
	struct ferr e = { 0 };
	struct session_opts so = { 0 };
	struct buf b;

	buf_init(&b, FRAME_MAX);
	mon_req_encode(&q, &b);
	if (session_open(&s, cfg, &so, 0, NULL, &e) < 0)
		ferr_die(&e);
	m->s = &s;
	ss->cfg = cfg;
	if (s.c.chans) {
		m->chan = STATUS_MON_CHAN;
		if (conn_queue_ch(&s.c, m->chan, MSG_MON_REQ, b.data, b.len) < 0)
			die(EXIT_INTERNAL, "cannot queue the monitor request");
		const struct conn_hooks hk = { .divert = mon_divert, .arg = m, .chan = 0 };
		s.c.hooks = &hk;
		sync_run(ss, &s);
		s.c.hooks = NULL;
	} else {
		if (conn_queue(&s.c, MSG_MON_REQ, b.data, b.len) < 0)
			die(EXIT_INTERNAL, "cannot queue the monitor request");
		/* Started only now, so that it finds the ssh ControlMaster this
		 * session set up instead of racing it for the socket. */
		sync_start(ss, cfg);
	}
	buf_release(&b);
	mon_finish(m);
	*label = xstrdup(s.label);
	session_close(&s);
	sync_finish(ss);
}

int cmd_status(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': cmd_usage("status", 0); return 0;
		default: cmd_usage("status", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("status", "unexpected '%s'", argv[optind]);

	struct config cfg;
	cmd_load_config(&cfg, ctx->dir);
	struct syncstate ss = { 0 };

	struct monread m = { 0 };
	char *label;
	status_gather(&cfg, &ss, &m, &label);
	struct mon_sample smp = m.smp;
	if (json) {
		char *why = json_quote(ss.why);
		char *extra = ss.known
			? xasprintf("\"sync\":{\"state\":\"%s\",\"send\":%llu,\"delete\":%llu,\"conflicts\":%llu}",
				    ss.conflicts ? "conflicts" : ss.send + ss.del ? "differ" : "up to date", ss.send,
				    ss.del, ss.conflicts)
			: xasprintf("\"sync\":{\"state\":\"unknown\",\"error\":%s}", why);
		mon_json(stdout, &smp, extra);
		free(extra);
		free(why);
	} else {
		print_text(&smp, &ss, label);
	}
	free(label);
	mon_sample_release(&smp);
	config_release(&cfg);
	return 0;
}
