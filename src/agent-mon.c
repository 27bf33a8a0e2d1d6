/*
 * agent-mon.c - monitoring requests: MON_REQ streams samples until the
 * count is reached or MON_STOP; MON_KILL signals one of this user's
 * running ferry jobs.
 *
 * A slow link gets fewer samples, never a growing queue: a sample is
 * queued only when the previous one has been written out, and is small
 * (a few KiB: figures, not screens — the client draws).
 */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		*msg = xasprintf("job '%s' is not running (%s)", id, jobs[i].state);
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

int agent_mon_kill(struct conn *c, struct rd *body)
{
	char *id, *msg = NULL;
	uint32_t wsig;
	struct buf b;
	if (mon_kill_decode(body, &id, &wsig) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed kill request");
		return -1;
	}
	int sig = wire_to_signal(wsig);
	int err;
	if (!mon_job_id_ok(id)) {
		err = EINVAL;
		msg = xstrdup("not a job id");
	} else if (sig != SIGTERM && sig != SIGINT && sig != SIGHUP && sig != SIGKILL) {
		err = EINVAL;
		msg = xasprintf("signal %u is not one ferry sends to jobs", wsig);
	} else {
		/* Through the job's supervisor, as `ferry kill` does: the whole
		 * tree, KILL after the grace period, recorded as killed.  A
		 * job without one (lost) gets the signal by session id. */
		uint32_t jid = job_parse_id(id);
		int r = jid ? job_ctl_kill(jid, sig, 0) : -ENOENT;
		if (r == 0) {
			err = 0;
			msg = xasprintf("sent %s to job %s", strsignal(sig), id);
		} else {
			err = kill_job(id, sig, &msg);
		}
	}
	buf_init(&b, FRAME_MAX);
	mon_kill_reply_encode((uint32_t)err, msg, &b);
	conn_queue(c, MSG_MON_KILL_REPLY, b.data, b.len);
	buf_release(&b);
	free(msg);
	free(id);
	return 0;
}

static void queue_sample(struct conn *c, struct sampler *sm, uint32_t nprocs)
{
	struct mon_sample s;
	struct buf b;
	sampler_take(sm, nprocs, &s);
	buf_init(&b, FRAME_MAX);
	if (mon_sample_encode(&s, &b) == 0)
		conn_queue(c, MSG_MON_SAMPLE, b.data, b.len);
	buf_release(&b);
	mon_sample_release(&s);
}

int agent_mon(struct conn *c, struct rd *body)
{
	struct mon_req q;
	int ret = 0;
	uint32_t sent = 0;

	if (mon_req_decode(body, &q) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed monitoring request");
		return -1;
	}
	char *root = agent_root_path(q.root);
	struct sampler *sm = sampler_new(root, NULL);
	struct mon_sample s;
	uint32_t nprocs = q.nprocs ? q.nprocs : MON_PROCS_DEFAULT;
	sampler_take(sm, nprocs, &s);	/* the baseline rates are measured from */
	mon_sample_release(&s);
	uint64_t step = (uint64_t)q.interval_ms * 1000000u;
	uint64_t next = now_mono_ns() + (q.interval_ms < MON_WARMUP_MS ? step : (uint64_t)MON_WARMUP_MS * 1000000u);

	for (;;) {
		uint16_t type;
		struct rd fb;
		int r;
		while ((r = conn_next(c, &type, &fb)) == 1) {
			if (type == MSG_MON_STOP)
				goto done;
			if (type == MSG_MON_KILL) {
				if (agent_mon_kill(c, &fb) < 0) {
					ret = -1;
					goto out;
				}
				continue;
			}
			agent_error(c, PERR_PROTOCOL, "unexpected message type 0x%04x while monitoring", type);
			ret = -1;
			goto out;
		}
		if (r < 0) {
			agent_error(c, PERR_PROTOCOL, "oversize or malformed frame header");
			ret = -1;
			goto out;
		}
		uint64_t now = now_mono_ns();
		if (now >= next) {
			/* The client has not taken the last sample yet: skip this
			 * one (the next covers the longer interval). */
			if (c->out.len == 0) {
				queue_sample(c, sm, nprocs);
				sent++;
			}
			next += step;
			if (next <= now)
				next = now + step;
			if (q.count && sent >= q.count)
				goto done;
			continue;
		}
		struct pollfd pf[2] = { { .fd = c->rfd, .events = POLLIN },
					{ .fd = c->out.len ? c->wfd : -1, .events = POLLOUT } };
		uint64_t wait_ms = (next - now + 999999) / 1000000u;
		if (poll(pf, 2, (int)wait_ms) < 0 && errno != EINTR) {
			ret = -1;
			goto out;
		}
		if (pf[1].revents && conn_flush_some(c) < 0) {
			ret = -1;
			goto out;
		}
		if (pf[0].revents) {
			int fr = conn_fill(c);
			if (fr == 0)
				goto out;	/* the client is gone; the main loop sees the end too */
			if (fr < 0 && fr != -EAGAIN) {
				ret = -1;
				goto out;
			}
		}
	}
done:
	conn_queue(c, MSG_MON_END, NULL, 0);
out:
	sampler_free(sm);
	free(root);
	mon_req_release(&q);
	return ret;
}
