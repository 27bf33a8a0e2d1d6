/*
 * agent-mon.c - monitoring requests: MON_REQ streams samples until the
 * count is reached or MON_STOP; MON_KILL signals one of this user's
 * running ferry jobs.
 *
 * A slow link gets fewer samples, never a growing queue: a sample is
 * queued only when the previous one has left the stream's channel, and is
 * small (a few KiB: figures, not screens — the client draws).  The stream
 * is a timer on the agent's event loop, so it goes on while other
 * channels work.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ev.h"
#include "limits.h"
#include "job.h"
#include "mon-jobs.h"
#include "mon-proc.h"
#include "mon-sample.h"
#include "mon.h"
#include "util.h"

#include "banned.h"

/* Sends sig to every process of this user in the job's session.  0 and
 * *msg, or an errno and *msg saying why not. */
static int kill_job(const char *id, int sig, char **msg)
{
	struct mon_jobrec *jobs;
	int nj = mon_jobs_list(NULL, &jobs), i;
	int err = 0;
	for (i = 0; i < nj; i++)
		if (strcmp(jobs[i].id, id) == 0)
			break;
	if (i == nj) {
		*msg = xasprintf("no job '%s' on this server", id);
		err = ENOENT;
		goto out;
	}
	if (strcmp(jobs[i].state, "running") != 0 || jobs[i].sid == 0) {
		/* A lost one with processes left was killed by job_ctl_kill. */
		*msg = strcmp(jobs[i].state, "lost") == 0
			       ? xasprintf("job '%s' is lost and none of its processes is left", id)
			       : xasprintf("job '%s' is not running (%s)", id, jobs[i].state);
		err = ESRCH;
		goto out;
	}
	uint32_t sid = jobs[i].sid;
	uid_t me = getuid();
	int pfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = pfd >= 0 ? fdopendir(pfd) : NULL;
	struct dirent *de;
	int hit = 0, denied = 0;
	char rel[300], b[4096];
	/* The session leader's group first (the supervisor's setsid), then
	 * every other process of ours that kept the session id. */
	(void)killpg((pid_t)sid, sig);
	while (d && (de = readdir(d)) != NULL && hit + denied < MON_KILL_MAX) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(rel, sizeof(rel), "%s/stat", de->d_name);
		int fd = openat(pfd, rel, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		ssize_t n = read(fd, b, sizeof(b) - 1);
		int fr = fstat(fd, &st);
		close(fd);
		struct mp_pstat ps;
		if (n <= 0 || fr < 0 || mp_pid_stat(b, (size_t)n, &ps) < 0 || ps.session != sid)
			continue;
		if (st.st_uid != me) {
			denied++;
			continue;
		}
		if (kill((pid_t)ps.pid, sig) == 0)
			hit++;
	}
	if (d)
		closedir(d);
	else if (pfd >= 0)
		close(pfd);
	if (hit == 0) {
		*msg = denied ? xasprintf("job '%s': its processes are not yours", id)
			      : xasprintf("job '%s' has no processes left", id);
		err = denied ? EPERM : ESRCH;
		goto out;
	}
	*msg = xasprintf("sent %s to job '%s' (%d process%s)", strsignal(sig), id, hit, hit == 1 ? "" : "es");
out:
	mon_jobs_free(jobs, nj);
	return err;
}

/* Decodes a kill request, does it and encodes the reply into out; -1
 * when the request is malformed. */
static int mon_kill(struct rd *body, struct buf *out)
{
	char *id, *msg = NULL;
	uint32_t wsig;
	if (mon_kill_decode(body, &id, &wsig) < 0)
		return -1;
	int sig = wire_to_signal(wsig);
	int err;
	if (!mon_job_id_ok(id)) {
		err = EINVAL;
		msg = xstrdup("not a job id");
	} else if (sig != SIGTERM && sig != SIGINT && sig != SIGHUP && sig != SIGKILL) {
		err = EINVAL;
		msg = xasprintf("signal %u is not one ferry sends to jobs", wsig);
	} else {
		/* As `ferry kill` does: through the job's supervisor (the
		 * whole tree, KILL after the grace period, recorded as
		 * killed), or for a lost job straight to the processes left
		 * (job_kill_lost, the same).  A folder with no record gets
		 * the signal by session id. */
		uint32_t jid = job_parse_id(id);
		int r = jid ? job_ctl_kill(jid, sig, 0) : -ENOENT;
		if (r == 0) {
			err = 0;
			msg = xasprintf("sent %s to job %s", strsignal(sig), id);
		} else {
			err = kill_job(id, sig, &msg);
		}
	}
	mon_kill_reply_encode((uint32_t)err, msg, out);
	free(msg);
	free(id);
	return 0;
}

int agent_mon_kill(struct conn *c, struct rd *body)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	int r = mon_kill(body, &b);
	if (r < 0)
		agent_error(c, PERR_PROTOCOL, "malformed kill request");
	else
		conn_queue(c, MSG_MON_KILL_REPLY, b.data, b.len);
	buf_release(&b);
	return r;
}

struct mstream {
	struct achan *x;
	struct mon_req q;
	char *root;
	struct sampler *sm;
	uint32_t nprocs, sent;
	uint64_t step;		/* ns between samples */
	uint64_t next;		/* when the next is due */
	uint64_t timer;
};

static void ms_free(struct mstream *m)
{
	if (m->timer)
		(void)ev_timer_del(achan_ev(m->x), m->timer);
	sampler_free(m->sm);
	free(m->root);
	mon_req_release(&m->q);
	free(m);
}

static void ms_end(struct mstream *m)
{
	struct achan *x = m->x;
	achan_queue(x, MSG_MON_END, NULL, 0);
	ms_free(m);
	achan_done(x);
}

static void queue_sample(struct mstream *m)
{
	struct mon_sample s;
	struct buf b;
	sampler_take(m->sm, m->nprocs, &s);
	buf_init(&b, FRAME_MAX);
	if (mon_sample_encode(&s, &b) == 0)
		achan_queue(m->x, MSG_MON_SAMPLE, b.data, b.len);
	buf_release(&b);
	mon_sample_release(&s);
}

static int64_t ms_tick(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct mstream *m = arg;
	uint64_t now = now_mono_ns();
	if (now >= m->next) {
		/* The client has not taken the last sample yet: skip this
		 * one (the next covers the longer interval). */
		if (chan_idle(&m->x->ch) && achan_room(m->x)) {
			queue_sample(m);
			m->sent++;
		}
		m->next += m->step;
		if (m->next <= now)
			m->next = now + m->step;
		if (m->q.count && m->sent >= m->q.count) {
			m->timer = 0;	/* this one ends as we return */
			ms_end(m);
			return EV_TIMER_END;
		}
	}
	return (int64_t)((m->next - now + 999999) / 1000000u);
}

static int ms_frame(struct achan *x, uint16_t type, struct rd *body)
{
	struct mstream *m = x->st;
	if (type == MSG_MON_STOP) {
		ms_end(m);
		return 0;
	}
	if (type == MSG_MON_KILL) {
		struct buf b;
		buf_init(&b, FRAME_MAX);
		int r = mon_kill(body, &b);
		if (r < 0)
			achan_error(x, PERR_PROTOCOL, "malformed kill request");
		else
			achan_queue(x, MSG_MON_KILL_REPLY, b.data, b.len);
		buf_release(&b);
		return r;
	}
	achan_error(x, PERR_PROTOCOL, "unexpected message type 0x%04x while monitoring", type);
	return -1;
}

/* Samples wait for the timer; a full channel only skips them. */
static void ms_room(struct achan *x)
{
}

static void ms_stop(struct achan *x)
{
	ms_free(x->st);
}

static const struct achan_ops mon_ops = { .frame = ms_frame, .room = ms_room, .stop = ms_stop };

int agent_mon_start(struct achan *x, struct rd *body)
{
	struct mstream *m = xcalloc(1, sizeof(*m));
	if (mon_req_decode(body, &m->q) < 0) {
		free(m);
		achan_error(x, PERR_PROTOCOL, "malformed monitoring request");
		return -1;
	}
	m->x = x;
	m->root = agent_root_path(m->q.root);
	m->sm = sampler_new(m->root, NULL);
	m->nprocs = m->q.nprocs ? m->q.nprocs : MON_PROCS_DEFAULT;
	struct mon_sample s;
	sampler_take(m->sm, m->nprocs, &s);	/* the baseline rates are measured from */
	mon_sample_release(&s);
	m->step = (uint64_t)m->q.interval_ms * 1000000u;
	uint64_t first = m->q.interval_ms < MON_WARMUP_MS ? m->q.interval_ms : MON_WARMUP_MS;
	m->next = now_mono_ns() + first * 1000000u;
	m->timer = ev_timer_add(achan_ev(x), first, ms_tick, m);
	x->st = m;
	x->ops = &mon_ops;
	return 0;
}
