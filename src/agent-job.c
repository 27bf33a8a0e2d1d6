/*
 * agent-job.c - the agent's job requests: start, list, logs (-f), kill,
 * wait, attach, rm.
 *
 * The agent itself holds no job: it starts a supervisor (job-sup.c) and
 * then only reads what the supervisors write (records and logs, under the
 * jobs folder) or talks to one on its control socket.  Following a log or
 * waiting for an end uses inotify on the job's folder, with a once-a-second
 * look at the supervisor so a job whose supervisor died reads as lost
 * instead of hanging the follower.
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
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ev.h"
#include "fsx.h"
#include "job-backend.h"
#include "job-snap.h"
#include "job-spec.h"
#include "job-sup.h"
#include "job-wire.h"
#include "job.h"
#include "limits.h"
#include "sync-index.h"
#include "util.h"

#include "banned.h"

static void send_record(struct conn *c, const struct job *j)
{
	struct buf b;
	buf_init(&b, JOB_RECORD_MAX);
	job_encode(j, &b);
	conn_queue(c, MSG_JOB_RECORD, b.data, b.len);
	buf_release(&b);
}

/* What the job moved out of its snapshot and is still in the project
 * (its folder's "outputs": at most JOB_OUTPUTS_MAX bytes, a path once,
 * gone ones left out), if anything. */
static void send_outputs(struct conn *c, const char *jobs, const struct job *j)
{
	char *dir = job_dir(jobs, j->id), *path = xasprintf("%s/outputs", dir), *text = NULL;
	size_t len = 0;
	int r = read_file(path, JOB_OUTPUTS_MAX, &text, &len);
	free(dir);
	free(path);
	int rootfd = r < 0 ? -1 : open(j->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		free(text);
		return;
	}
	struct buf b, list;
	buf_init(&list, JOB_OUTPUTS_MAX);
	char *save = NULL;
	for (char *p = strtok_r(text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		struct stat st;
		if (path_check_rel(p, strlen(p)) < 0 || fstatat(rootfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bool dup = false;
		for (size_t at = 0; at < list.len && !dup;) {
			const char *q = (const char *)list.data + at, *nl = memchr(q, '\n', list.len - at);
			size_t ql = nl ? (size_t)(nl - q) : list.len - at;
			dup = ql == strlen(p) && memcmp(q, p, ql) == 0;
			at += ql + 1;
		}
		if (!dup && buf_put(&list, p, strlen(p)) == 0)
			(void)buf_put(&list, "\n", 1);
	}
	close(rootfd);
	if (list.len) {
		buf_init(&b, JOB_OUTPUTS_MAX + 16);
		buf_put_u32(&b, j->id);
		buf_put_str(&b, list.data, list.len);
		conn_queue(c, MSG_JOB_OUTPUTS, b.data, b.len);
		buf_release(&b);
	}
	buf_release(&list);
	free(text);
}

static void send_done(struct conn *c, const struct job *j)
{
	struct buf b;
	buf_init(&b, 64);
	job_done_encode(j, &b);
	conn_queue(c, MSG_JOB_DONE, b.data, b.len);
	buf_release(&b);
}

static void notice(struct conn *c, uint32_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void notice(struct conn *c, uint32_t id, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	buf_init(&b, 4096);
	buf_put_u32(&b, id);
	buf_put_str(&b, m, strnlen(m, 1024));
	conn_queue(c, MSG_JOB_NOTICE, b.data, b.len);
	buf_release(&b);
	free(m);
}

/* The jobs folder, or an ERROR frame. */
static char *jobs_or_error(struct conn *c)
{
	const char *why;
	char *jobs = jobs_dir(&why);
	if (jobs == NULL)
		agent_error(c, PERR_ROOT, "cannot use the jobs folder: %s", why);
	return jobs;
}

static int load_or_error(struct conn *c, const char *jobs, uint32_t id, struct job *j)
{
	int r = job_load(jobs, id, j);
	if (r == -ENOENT)
		agent_error(c, PERR_NOJOB, "no job %u on this server", id);
	else if (r < 0)
		agent_error(c, PERR_JOB, "the record of job %u cannot be read", id);
	return r;
}

/* ---- start ---- */

/* The code the job runs: the snapshot of the last push (or the live
 * folder with JOBF_IN_PLACE, or when nothing was pushed). */
static int prepare_code(struct conn *c, const struct job_start_req *q, const char *root, struct job *j, int *hold)
{
	struct index ix;
	char *sdir = agent_state_dir(root), *ixf = xasprintf("%s/push.index", sdir);
	int r = 0;
	index_init(&ix);
	bool have = index_load(ixf, &ix) == 0;
	free(sdir);
	free(ixf);
	/* Pull folders exist live, so the snapshot links them through and
	 * results land where `ferry pull` looks. */
	for (uint32_t i = 0; i < q->npull; i++) {
		char *p = xasprintf("%s/%s", root, q->pull[i]);
		(void)mkdir_p(p, 0755);
		free(p);
	}
	/* The folder as checked, used from here on: run code from a folder
	 * another user could write only when the project says it is shared. */
	int rootfd;
	bool shared;
	if (agent_project_open(c, root, q->flags & JOBF_SHARED, &rootfd, &shared) < 0) {
		index_release(&ix);
		return -1;
	}
	j->tree = have ? snapshot_tree_id(&ix) : xstrdup("");
	if (!have || (q->flags & JOBF_IN_PLACE)) {
		j->cwd = xstrdup(root);
		j->snapshot = xstrdup("");
	} else {
		char *why, *base = agent_snap_base(c, root, shared);
		if (base == NULL) {
			r = -1;
		} else {
			struct snap_where w = { .root = root, .rootfd = rootfd, .base = base, .strict = shared };
			r = snapshot_get(&w, &ix, &j->cwd, &j->snapshot, &why, hold);
			if (r < 0) {
				agent_error(c, r == -ENOSPC ? PERR_NOSPC : r == -EPERM ? PERR_JOB : PERR_ROOT, "%s", why);
				free(why);
			}
			free(base);
		}
	}
	close(rootfd);
	index_release(&ix);
	return r;
}

static int rm_job_dir(const char *jobs, uint32_t id);

static char **copy_words(char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

/* The spec of j from the request: what to execute (a shell line as
 * SHELL -c LINE), its whole environment, where and on what terminal. */
static void make_spec(const struct job_start_req *q, const struct job *j, char **envp, struct job_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	if (j->shell) {
		char *argv[] = { (char *)agent_user_shell(envp), "-c", j->argv[0], NULL };
		sp->argv = copy_words(argv);
		sp->argc = 3;
	} else {
		sp->argv = copy_words(j->argv);
		sp->argc = j->argc;
	}
	sp->env = envp;
	for (sp->envc = 0; envp[sp->envc]; sp->envc++)
		;
	sp->cwd = xstrdup(j->cwd);
	sp->pty = 1;
	sp->rows = q->rows;
	sp->cols = q->cols;
	sp->resources = xcalloc(1, sizeof(char *));
	sp->code_id = xstrdup(j->snapshot);
	sp->env_id = xstrdup(q->flags & JOBF_NO_LOGIN_ENV ? "plain" : "login");
}

/* Spec and queued record in the job's folder, then its backend starts
 * it: what job_launch returns, with an ERROR frame already sent for a
 * failure to start. */
static int launch(struct conn *c, const char *jobs, const struct job_start_req *q, struct job *j, char **envp,
		  char **why)
{
	struct job_spec sp;
	char *dir = job_dir(jobs, j->id), *sysd = NULL;
	make_spec(q, j, envp, &sp);
	int r = job_spec_save(dir, &sp);
	sp.env = NULL;	/* envp stays the caller's */
	job_spec_release(&sp);
	free(dir);
	j->state = JOB_QUEUED;
	j->backend = xstrdup(job_backend_local.name);
	if (r == 0)
		r = job_save(jobs, j);
	if (r < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot write job %u in '%s': %s", j->id, jobs,
			    strerror(-r));
		(void)rm_job_dir(jobs, j->id);
		return r;
	}
	r = job_backend_local.launch(jobs, j, why, &sysd);
	if (sysd) {
		notice(c, j->id, "%s", sysd);
		free(sysd);
	}
	if (r < 0) {
		/* Nothing runs: no queued record is left behind. */
		agent_error(c, PERR_INTERNAL, "cannot start the job: %s", *why ? *why : strerror(-r));
		(void)rm_job_dir(jobs, j->id);
	}
	return r;
}

/* The record as the supervisor wrote it (pid, start time). */
static void send_started(struct conn *c, const char *jobs, struct job *j, int r)
{
	struct job now;
	if (job_load(jobs, j->id, &now) == 0) {
		if (r > 0) {
			/* Not executed: the supervisor is recording that
			 * right now; say it without waiting. */
			now.state = JOB_FAILED;
			now.exit_code = r;
		}
		send_record(c, &now);
		job_release(&now);
	} else {
		send_record(c, j);
	}
}

int agent_job_start(struct conn *c, struct rd *body)
{
	struct job_start_req q;
	struct job j = { 0 };
	char *jobs = NULL, *root = NULL, **envp = NULL, *why = NULL;

	if (job_start_decode(body, &q) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed job request");
		return -1;
	}
	root = agent_root_path(q.root);
	if (mkdir_p(root, 0755) < 0 || access(root, R_OK | X_OK) < 0) {
		agent_error(c, PERR_ROOT, "cannot use project folder '%s': %s", root, strerror(errno));
		goto out;
	}
	if ((jobs = jobs_or_error(c)) == NULL)
		goto out;
	int r = job_alloc(jobs, &j.id);
	if (r < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot make a job folder in '%s': %s", jobs,
			    strerror(-r));
		goto out;
	}
	j.name = xstrdup(q.name);
	j.argv = q.argv;
	j.argc = q.argc;
	q.argv = NULL;
	j.shell = (q.flags & JOBF_SHELL) != 0;
	j.root = xstrdup(root);
	j.git_commit = xstrdup(q.git_commit);
	j.git_dirty = q.git_dirty;
	j.max_mem = q.max_mem;
	j.min_avail = q.min_avail;
	j.reason = xstrdup("");
	j.boot_id = xstrdup("");
	j.exit_code = -1;
	int hold = -1;
	if (prepare_code(c, &q, root, &j, &hold) < 0) {
		char *d = job_dir(jobs, j.id);
		rmdir(d);
		free(d);
		goto out;
	}
	char *idv = xasprintf("FERRY_JOB_ID=%u", j.id);
	q.env = xrealloc(q.env, ((size_t)q.envc + 2) * sizeof(char *));
	q.env[q.envc++] = idv;
	q.env[q.envc] = NULL;
	char *warning;
	envp = agent_env(!(q.flags & JOBF_NO_LOGIN_ENV), q.env, q.envc, j.cwd, &warning);
	if (warning) {
		notice(c, j.id, "%s", warning);
		free(warning);
	}
	r = launch(c, jobs, &q, &j, envp, &why);
	if (hold >= 0)
		close(hold);	/* the record is written (or the job never started) */
	if (r > 0)
		notice(c, j.id, "cannot run '%s': %s", j.argv[0], why);
	if (r >= 0)
		send_started(c, jobs, &j, r);
out:
	free(why);
	free_words(envp);
	job_release(&j);
	job_start_release(&q);
	free(jobs);
	free(root);
	return 0;
}

/* ---- list ---- */

/* A project's jobs are those whose root is its live folder: the list
 * without ids may name a project (the root as in JOB_START), and then
 * holds only its jobs.  Ids given are shown whatever their project (ids
 * are unique per user). */
int agent_job_list(struct conn *c, struct rd *body)
{
	uint32_t n;
	uint32_t *want = job_ids_decode(body, &n);
	char *project = rd_left(body) ? rd_cstr(body, PATH_REL_MAX) : NULL, *root = NULL;
	rd_expect_end(body);
	if (!rd_ok(body)) {
		free(want);
		free(project);
		agent_error(c, PERR_PROTOCOL, "malformed job list request");
		return -1;
	}
	char *jobs = jobs_or_error(c);
	if (jobs == NULL) {
		free(want);
		free(project);
		return 0;
	}
	if (n == 0 && project && project[0])
		root = agent_root_path(project);
	size_t nids = n;
	uint32_t *ids = n ? want : job_ids(jobs, &nids);
	for (size_t i = 0; i < nids; i++) {
		struct job j;
		int r = job_load(jobs, ids[i], &j);
		if (r == 0) {
			if (root == NULL || strcmp(j.root, root) == 0) {
				if (j.state == JOB_RUNNING || j.state == JOB_LOST) {
					/* The record has it only from the end. */
					char *dir = job_dir(jobs, j.id);
					j.log_bytes = job_log_size(dir);
					free(dir);
				}
				if (j.state == JOB_LOST)
					job_count_procs(&j);	/* what `ferry kill` would stop */
				send_record(c, &j);
				if (n)
					send_outputs(c, jobs, &j);
			}
			job_release(&j);
		} else if (n) {
			notice(c, ids[i], r == -ENOENT ? "no job %u on this server" : "the record of job %u cannot be read",
			       ids[i]);
		}
		if (c->out.len > CONN_OUT_HIGH && conn_flush(c) < 0)
			break;
	}
	conn_queue(c, MSG_JOB_LIST_END, NULL, 0);
	if (ids != want)
		free(ids);
	free(want);
	free(project);
	free(root);
	free(jobs);
	return 0;
}

/* ---- logs ---- */

static void send_log_at(struct conn *c, uint64_t pos)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(pos >> (56 - 8 * i));
	conn_queue(c, MSG_JOB_LOG_AT, b, sizeof(b));
}

/* Positions l at the start of the last `lines` lines (within the last
 * JOB_TAIL_SCAN bytes). */
static int open_tail(struct job_log *l, const char *dir, uint32_t lines)
{
	int r = job_log_open(l, dir, JOB_TAIL_SCAN);
	if (r < 0)
		return r;
	struct buf b;
	uint8_t chunk[FRAME_CHUNK];
	ssize_t n;
	buf_init(&b, JOB_TAIL_SCAN + 256);
	uint32_t seg = l->seg;
	uint64_t off = l->off;
	while ((n = job_log_read(l, chunk, sizeof(chunk))) > 0 && buf_put(&b, chunk, (size_t)n) == 0)
		;
	/* Count newlines back from the end (a last line without one counts). */
	size_t i = b.len, seen = 0;
	if (i && b.data[i - 1] == '\n')
		i--;
	while (i > 0) {
		if (b.data[i - 1] == '\n' && ++seen == lines)
			break;
		i--;
	}
	buf_release(&b);
	/* Reopen and skip to byte i of what was read. */
	job_log_close(l);
	r = job_log_open(l, dir, 0);
	if (r < 0)
		return r;
	l->seg = seg;
	l->off = off;
	while (i > 0) {
		size_t k = i < sizeof(chunk) ? i : sizeof(chunk);
		n = job_log_read(l, chunk, k);
		if (n <= 0)
			break;
		i -= (size_t)n;
	}
	return 0;
}

/* Without inotify (a seccomp filter, or the user's instances used up:
 * fs.inotify.max_user_instances is 128 on many distributions) a follow, a
 * wait and a kill look at the record and the log this often instead. */
#define NO_INOTIFY_POLL_MS 100

/* How often a follower looks when nothing wakes it. */
static int64_t check_ms(int ino)
{
	return ino >= 0 ? JOB_FOLLOW_CHECK_MS : NO_INOTIFY_POLL_MS;
}

/* Waits for something to happen to the job in dir (its log grows, its
 * record changes), for the client to say something, or for a second to
 * pass (NO_INOTIFY_POLL_MS without inotify: ino < 0).  Returns 1 when the record changed, 0 otherwise, -1 when the
 * client is gone. */
static int wait_change(struct conn *c, int ino)
{
	struct pollfd p[2] = { { .fd = ino, .events = POLLIN }, { .fd = c->rfd, .events = POLLIN } };
	if (poll(p, 2, (int)check_ms(ino)) < 0)
		return errno == EINTR ? 0 : -1;
	if (p[1].revents) {
		/* Nothing is expected from the client now: input or EOF
		 * both end the follow. */
		return -1;
	}
	int changed = 0;
	if (p[0].revents) {
		char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		ssize_t n;
		while ((n = read(ino, ev, sizeof(ev))) > 0)
			for (char *q = ev; q < ev + n;) {
				struct inotify_event *e = (struct inotify_event *)(void *)q;
				if (e->len && strcmp(e->name, "record") == 0)
					changed = 1;
				q += sizeof(*e) + e->len;
			}
	}
	return changed;
}

static int watch_dir(const char *dir)
{
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino >= 0 && inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		close(ino);
		ino = -1;
	}
	return ino;
}

/* A log follow, or a plain read of a log, on the event loop. */
struct follow {
	struct achan *x;
	uint32_t id;
	struct job j;
	struct job_log l;
	bool log_open;
	uint64_t at, *atp;
	char *jobs, *dir;
	int ino;
	bool follow;	/* a running job's: until it ends */
	uint64_t timer;
};

static void fl_free(struct follow *f)
{
	struct ev_loop *ev = achan_ev(f->x);
	if (f->ino >= 0) {
		ev_fd_del(ev, f->ino, EV_READ);
		close(f->ino);
	}
	if (f->timer)
		(void)ev_timer_del(ev, f->timer);
	if (f->log_open)
		job_log_close(&f->l);
	job_release(&f->j);
	free(f->dir);
	free(f->jobs);
	free(f);
}

/* Queues what the log holds from l's position on while the channel has
 * room; true once it is all queued.  With atp (the offset the client
 * will count the next byte at, or UINT64_MAX when it does not know), a
 * JOB_LOG_AT goes before output that does not start there: after a
 * dropped-bytes line, whose bytes are not the log's. */
static bool fl_send(struct follow *f)
{
	uint8_t b[FRAME_CHUNK];
	while (achan_room(f->x)) {
		uint64_t pos = job_log_pos(&f->l);
		ssize_t n = job_log_read(&f->l, b, sizeof(b));
		if (n <= 0)
			return true;
		if (f->atp != NULL) {
			uint64_t end = job_log_pos(&f->l);
			if (end - pos == (uint64_t)n && pos != f->at) {
				struct conn s;
				achan_scratch(f->x, &s);
				send_log_at(&s, pos);
				achan_take(f->x, &s);
			}
			f->at = end - pos == (uint64_t)n ? end : UINT64_MAX;
		}
		achan_queue(f->x, MSG_JOB_OUTPUT, b, (size_t)n);
	}
	return false;
}

/* After anything happened: more output, and the end once the job ended
 * (or cannot be followed). */
static void fl_step(struct follow *f)
{
	if (!fl_send(f))
		return;		/* the room callback brings us back */
	if (f->follow && f->j.state == JOB_RUNNING)
		return;		/* inotify or the timer do */
	struct achan *x = f->x;
	struct conn s;
	achan_scratch(x, &s);
	send_done(&s, &f->j);
	achan_take(x, &s);
	fl_free(f);
	achan_done(x);
}

/* The record may have changed: read it again, then the log. */
static void fl_reload(struct follow *f)
{
	struct job k;
	if (job_load(f->jobs, f->id, &k) == 0) {
		job_release(&f->j);
		f->j = k;
	}
	fl_step(f);
}

static void fl_inotify(struct ev_loop *ev, int fd, int mask, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	fl_reload(arg);
}

/* Once a second, as inotify does not see a supervisor that died. */
static int64_t fl_tick(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct follow *f = arg;
	struct achan *x = f->x;
	fl_reload(f);
	return x->st == f ? check_ms(f->ino) : EV_TIMER_END;
}

/* Nothing is expected from the client during a follow: anything ends it
 * (and is the next request). */
static int fl_frame(struct achan *x, uint16_t type, struct rd *body)
{
	fl_free(x->st);
	achan_done(x);
	return 1;
}

static void fl_room(struct achan *x)
{
	fl_step(x->st);
}

static void fl_stop(struct achan *x)
{
	fl_free(x->st);
}

static const struct achan_ops follow_ops = { .frame = fl_frame, .room = fl_room, .stop = fl_stop };

int agent_job_logs_start(struct achan *x, struct rd *body)
{
	struct job_logs_req q;
	struct conn s;
	if (job_logs_decode(body, &q) < 0) {
		achan_error(x, PERR_PROTOCOL, "malformed logs request");
		return -1;
	}
	struct follow *f = xcalloc(1, sizeof(*f));
	f->x = x;
	f->id = q.id;
	f->ino = -1;
	f->at = UINT64_MAX;
	f->atp = q.flags & JOB_LOGS_AT ? &f->at : NULL;
	achan_scratch(x, &s);
	f->jobs = jobs_or_error(&s);
	if (f->jobs == NULL || load_or_error(&s, f->jobs, f->id, &f->j) < 0)
		goto fail;
	f->dir = job_dir(f->jobs, f->id);
	/* Watch before reading: nothing written in between is missed. */
	f->follow = (q.flags & JOB_LOGS_FOLLOW) && f->j.state == JOB_RUNNING;
	if (f->follow)
		f->ino = watch_dir(f->dir);
	int r = q.tail && !(q.flags & JOB_LOGS_FROM) ? open_tail(&f->l, f->dir, q.tail)
						      : job_log_open(&f->l, f->dir, 0);
	if (r < 0) {
		agent_error(&s, PERR_JOB, "cannot read the log of job %u: %s", f->id, strerror(-r));
		goto fail;
	}
	f->log_open = true;
	if (q.flags & JOB_LOGS_FROM)
		job_log_seek(&f->l, q.from);
	if (f->atp != NULL) {
		/* Where it starts, even when nothing follows yet. */
		f->at = job_log_pos(&f->l);
		send_log_at(&s, f->at);
	}
	achan_take(x, &s);
	x->st = f;
	x->ops = &follow_ops;
	if (f->ino >= 0)
		ev_fd_add(achan_ev(x), f->ino, EV_READ, fl_inotify, f);
	if (f->follow)
		f->timer = ev_timer_add(achan_ev(x), check_ms(f->ino), fl_tick, f);
	fl_step(f);
	return 0;
fail:
	/* Answered with an ERROR; the session goes on, as before. */
	achan_take(x, &s);
	fl_free(f);
	achan_done(x);
	return 0;
}

/* ---- kill ---- */

int job_ctl_kill(uint32_t id, int sig, uint32_t grace_ms)
{
	const char *why;
	char *jobs = jobs_dir(&why);
	struct job j;
	int r = jobs ? job_load(jobs, id, &j) : -ENOENT;
	if (r < 0) {
		free(jobs);
		return r;
	}
	const struct job_backend *b = job_backend_find(j.backend);
	/* A lost job is its backend's too: its processes may have outlived
	 * their supervisor. */
	r = j.state != JOB_RUNNING && j.state != JOB_LOST ? -ESRCH
	    : b == NULL ? -ENOTSUP : b->send_signal(jobs, &j, sig, grace_ms);
	job_release(&j);
	free(jobs);
	return r;
}

/* Kill of a queued job: it never starts. */
static void cancel_queued(struct conn *c, const char *jobs, uint32_t id)
{
	struct job k;
	int r = job_cancel(jobs, id, &k);
	if (r == -ESRCH)
		agent_error(c, PERR_JOB, "job %u started meanwhile: kill it again", id);
	else if (r < 0)
		agent_error(c, PERR_JOB, "cannot cancel job %u: %s", id, strerror(-r));
	else {
		send_record(c, &k);
		job_release(&k);
	}
}

int agent_job_kill(struct conn *c, struct rd *body)
{
	uint32_t id = rd_u32(body), wsig = rd_u32(body), grace = rd_u32(body);
	rd_expect_end(body);
	if (!rd_ok(body) || wire_to_signal(wsig) < 0 || grace > 3600000) {
		agent_error(c, PERR_PROTOCOL, "malformed kill request");
		return -1;
	}
	struct job j;
	char *jobs = jobs_or_error(c), *dir = NULL;
	int ino = -1;
	if (jobs == NULL || load_or_error(c, jobs, id, &j) < 0) {
		free(jobs);
		return 0;
	}
	if (j.state == JOB_QUEUED) {
		cancel_queued(c, jobs, id);
		goto out;
	}
	if (j.state == JOB_LOST)
		job_count_procs(&j);
	if (j.state == JOB_LOST && j.procs_left == 0) {
		agent_error(c, PERR_JOB, "job %u is lost (its supervisor is gone) and none of its processes is left: "
			    "nothing to kill", id);
		goto out;
	}
	if (j.state != JOB_RUNNING && j.state != JOB_LOST) {
		agent_error(c, PERR_JOB, "job %u is not running (%s)", id, job_state_name(j.state));
		goto out;
	}
	bool lost = j.state == JOB_LOST;
	dir = job_dir(jobs, id);
	ino = watch_dir(dir);	/* before the signal: its end is not missed */
	int r = job_ctl_kill(id, wire_to_signal(wsig), grace);
	if (r < 0 && lost) {
		agent_error(c, PERR_JOB, "cannot kill the processes of lost job %u: %s", id,
			    r == -ESRCH ? "none is left" : strerror(-r));
		goto out;
	}
	if (r < 0) {
		agent_error(c, PERR_JOB, "cannot reach the supervisor of job %u: %s", id,
			    r == -ESRCH ? "it is not running" : strerror(-r));
		goto out;
	}
	/* Wait for the end (TERM, the grace period, KILL), then report.  A
	 * lost job's end is written by the process job_kill_lost left to
	 * it, once its processes are gone. */
	uint64_t until = now_mono_ns() + ((uint64_t)(grace ? grace : JOB_KILL_GRACE_MS) + 2000) * 1000000u;
	while ((j.state == JOB_RUNNING || j.state == JOB_LOST) && now_mono_ns() < until) {
		if (wait_change(c, ino) < 0)
			break;
		struct job k;
		if (job_load(jobs, id, &k) == 0) {
			job_release(&j);
			j = k;
		}
	}
	if (j.state == JOB_LOST)
		job_count_procs(&j);
	send_record(c, &j);
out:
	if (ino >= 0)
		close(ino);
	job_release(&j);
	free(dir);
	free(jobs);
	return 0;
}

/* ---- wait ---- */

struct waiter {
	struct achan *x;
	uint32_t *ids, n, i;
	char *jobs;
	int ino;
	uint64_t timer;
};

static void wt_free(struct waiter *w)
{
	struct ev_loop *ev = achan_ev(w->x);
	if (w->ino >= 0) {
		ev_fd_del(ev, w->ino, EV_READ);
		close(w->ino);
	}
	if (w->timer)
		(void)ev_timer_del(ev, w->timer);
	free(w->ids);
	free(w->jobs);
	free(w);
}

static void wt_end(struct waiter *w, bool list_end)
{
	struct achan *x = w->x;
	if (list_end)
		achan_queue(x, MSG_JOB_LIST_END, NULL, 0);
	wt_free(w);
	achan_done(x);
}

/* Each job's record as it ends, in the order asked. */
static void wt_step(struct waiter *w)
{
	while (w->i < w->n) {
		if (!achan_room(w->x))
			return;		/* the room callback brings us back */
		struct job j;
		struct conn s;
		uint32_t id = w->ids[w->i];
		achan_scratch(w->x, &s);
		int r = job_load(w->jobs, id, &j);
		bool ended = r < 0 || j.state != JOB_RUNNING;
		if (r < 0)
			notice(&s, id, "job %u was removed", id);
		else if (ended)
			send_record(&s, &j);
		if (r == 0)
			job_release(&j);
		achan_take(w->x, &s);
		if (!ended)
			return;		/* inotify or the timer bring us back */
		w->i++;
	}
	wt_end(w, true);
}

static void wt_inotify(struct ev_loop *ev, int fd, int mask, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	wt_step(arg);
}

static int64_t wt_tick(struct ev_loop *ev, uint64_t id, void *arg)
{
	struct waiter *w = arg;
	struct achan *x = w->x;
	wt_step(w);
	return x->st == w ? check_ms(w->ino) : EV_TIMER_END;
}

/* Nothing is expected from the client meanwhile: anything ends the wait. */
static int wt_frame(struct achan *x, uint16_t type, struct rd *body)
{
	wt_end(x->st, false);
	return 1;
}

static void wt_room(struct achan *x)
{
	wt_step(x->st);
}

static void wt_stop(struct achan *x)
{
	wt_free(x->st);
}

static const struct achan_ops wait_ops = { .frame = wt_frame, .room = wt_room, .stop = wt_stop };

int agent_job_wait_start(struct achan *x, struct rd *body)
{
	struct waiter *w = xcalloc(1, sizeof(*w));
	struct conn s;
	w->x = x;
	w->ids = job_ids_decode(body, &w->n);
	rd_expect_end(body);
	if (!rd_ok(body) || w->n == 0) {
		w->ino = -1;
		wt_free(w);
		achan_error(x, PERR_PROTOCOL, "malformed wait request");
		return -1;
	}
	achan_scratch(x, &s);
	w->jobs = jobs_or_error(&s);
	w->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	for (uint32_t i = 0; w->jobs && i < w->n; i++) {
		struct job j;
		if (load_or_error(&s, w->jobs, w->ids[i], &j) < 0) {
			achan_take(x, &s);
			wt_end(w, false);
			return 0;
		}
		job_release(&j);
		char *dir = job_dir(w->jobs, w->ids[i]);
		if (w->ino >= 0)
			(void)inotify_add_watch(w->ino, dir, IN_MOVED_TO);
		free(dir);
	}
	achan_take(x, &s);
	if (w->jobs == NULL) {
		wt_end(w, false);
		return 0;
	}
	x->st = w;
	x->ops = &wait_ops;
	if (w->ino >= 0)
		ev_fd_add(achan_ev(x), w->ino, EV_READ, wt_inotify, w);
	w->timer = ev_timer_add(achan_ev(x), check_ms(w->ino), wt_tick, w);
	wt_step(w);
	return 0;
}

/* ---- attach ---- */

/* A relay between the client's channel and the job's supervisor (its
 * control socket) until the job ends or either side goes. */
struct attach {
	struct achan *x;
	uint32_t id;
	char *jobs;
	int fd;
	struct conn sc;
	uint8_t req[12];
	bool at;		/* the client asked with a log offset */
	bool heard;		/* the supervisor said something */
	bool owe_at;		/* a JOB_LOG_AT of an unknown offset follows the first output */
	bool retried;
};

static void at_close_sc(struct attach *t)
{
	if (t->fd < 0)
		return;
	ev_fd_del(achan_ev(t->x), t->fd, EV_READ | EV_WRITE);
	conn_release(&t->sc);
	close(t->fd);
	t->fd = -1;
}

static void at_free(struct attach *t)
{
	at_close_sc(t);
	free(t->jobs);
	free(t);
}

/* Ended, with or without the supervisor's word: say how the job stands. */
static void at_finish(struct attach *t)
{
	struct achan *x = t->x;
	struct job k;
	if (job_load(t->jobs, t->id, &k) == 0) {
		if (k.state != JOB_RUNNING) {
			struct conn s;
			achan_scratch(x, &s);
			send_done(&s, &k);
			achan_take(x, &s);
		}
		job_release(&k);
	}
	at_free(t);
	achan_done(x);
}

static void on_sup(struct ev_loop *ev, int fd, int mask, void *arg);

static void at_update(struct attach *t)
{
	struct ev_loop *ev = achan_ev(t->x);
	/* A slow client: hold the supervisor back (it drops us if we lag
	 * too far). */
	if (achan_room(t->x))
		ev_fd_add(ev, t->fd, EV_READ, on_sup, t);
	else
		ev_fd_del(ev, t->fd, EV_READ);
	if (t->sc.out.len)
		ev_fd_add(ev, t->fd, EV_WRITE, on_sup, t);
	else
		ev_fd_del(ev, t->fd, EV_WRITE);
}

static int at_connect(struct attach *t, size_t reqlen)
{
	t->fd = job_ctl_connect(t->jobs, t->id);
	if (t->fd < 0)
		return t->fd;
	conn_init(&t->sc, t->fd, t->fd);
	conn_queue(&t->sc, MSG_JOB_CTL_ATTACH, t->req, reqlen);
	at_update(t);
	return 0;
}

/* The supervisor's frames onto the channel while it has room; 1 at
 * the job's end or a frame that has no business here. */
static int at_relay(struct attach *t)
{
	uint16_t type;
	struct rd b;
	int fr = 0;
	while (achan_room(t->x) && (fr = conn_next(&t->sc, &type, &b)) == 1) {
		if (type != MSG_JOB_OUTPUT && type != MSG_JOB_DONE && type != MSG_JOB_LOG_AT)
			return 1;
		t->heard = true;
		size_t n = rd_left(&b);
		achan_queue(t->x, type, rd_bytes(&b, n), n);
		if (type == MSG_JOB_DONE)
			return 1;
	}
	if (t->owe_at && t->heard) {
		struct conn s;
		achan_scratch(t->x, &s);
		send_log_at(&s, UINT64_MAX);
		achan_take(t->x, &s);
		t->owe_at = false;
	}
	return fr < 0 ? 1 : 0;
}

static void on_sup(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct attach *t = arg;
	if ((mask & EV_WRITE) && conn_flush_some(&t->sc) < 0) {
		at_finish(t);
		return;
	}
	if (!(mask & EV_READ)) {
		at_update(t);
		return;
	}
	int r = conn_fill(&t->sc);
	if (at_relay(t) == 1) {
		at_finish(t);
		return;
	}
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		/* Hung up before saying anything: a supervisor of an older
		 * ferry refuses a request with an offset so.  Again in its
		 * words, and the client learns no offset. */
		if (!t->heard && t->at && !t->retried) {
			t->retried = true;
			t->owe_at = true;
			at_close_sc(t);
			if (at_connect(t, 4) == 0)
				return;
		}
		at_finish(t);
		return;
	}
	at_update(t);
}

static int at_frame(struct achan *x, uint16_t type, struct rd *body)
{
	struct attach *t = x->st;
	if (type != MSG_JOB_INPUT && type != MSG_JOB_RESIZE) {
		at_finish(t);	/* detached */
		return 0;
	}
	size_t n = rd_left(body);
	if (conn_queue(&t->sc, type, rd_bytes(body, n), n) < 0) {
		at_finish(t);
		return 0;
	}
	at_update(t);
	return 0;
}

static void at_room(struct achan *x)
{
	struct attach *t = x->st;
	/* Frames already read from the supervisor go first. */
	if (at_relay(t) == 1)
		at_finish(t);
	else
		at_update(t);
}

static void at_stop(struct achan *x)
{
	at_free(x->st);
}

static const struct achan_ops attach_ops = { .frame = at_frame, .room = at_room, .stop = at_stop };

int agent_job_attach_start(struct achan *x, struct rd *body)
{
	uint32_t id = rd_u32(body);
	uint16_t rows = rd_u16(body), cols = rd_u16(body);
	/* Since JOB_LOG_AT: the log offset the client saw up to. */
	bool at = rd_left(body) > 0;
	uint64_t from = at ? rd_u64(body) : UINT64_MAX;
	rd_expect_end(body);
	if (!rd_ok(body)) {
		achan_error(x, PERR_PROTOCOL, "malformed attach request");
		return -1;
	}
	struct attach *t = xcalloc(1, sizeof(*t));
	struct conn s;
	struct job j;
	struct buf rq;
	t->x = x;
	t->id = id;
	t->fd = -1;
	t->at = at;
	buf_init(&rq, sizeof(t->req));
	buf_put_u16(&rq, rows);
	buf_put_u16(&rq, cols);
	buf_put_u64(&rq, from);
	memcpy(t->req, rq.data, rq.len);
	buf_release(&rq);
	achan_scratch(x, &s);
	t->jobs = jobs_or_error(&s);
	if (t->jobs == NULL || load_or_error(&s, t->jobs, id, &j) < 0)
		goto fail;
	int st = j.state;
	job_release(&j);
	if (st != JOB_RUNNING) {
		agent_error(&s, PERR_JOB, "job %u is not running (%s)", id, job_state_name(st));
		goto fail;
	}
	x->st = t;
	x->ops = &attach_ops;
	int r = at_connect(t, at ? 12 : 4);
	if (r < 0) {
		agent_error(&s, PERR_JOB, "cannot reach the supervisor of job %u: %s", id, strerror(-r));
		x->ops = NULL;
		goto fail;
	}
	achan_take(x, &s);
	return 0;
fail:
	achan_take(x, &s);
	at_free(t);
	achan_done(x);
	return 0;
}

/* ---- rm / prune ---- */

static int rm_job_dir(const char *jobs, uint32_t id)
{
	static const char *const files[] = { "record", "spec", "state", "sid", "ctl", "log", "outputs", "rss" };
	char *dir = job_dir(jobs, id);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;
	if (dfd >= 0) {
		for (size_t i = 0; i < ARRAY_LEN(files); i++)
			(void)unlinkat(dfd, files[i], 0);
		for (uint32_t s = 1; s < JOB_ID_MAX; s++) {
			char name[32];
			snprintf(name, sizeof(name), "log.%u", s);
			if (unlinkat(dfd, name, 0) < 0 && errno == ENOENT) {
				/* Segments are numbered from 1 up; the oldest may
				 * be gone, so look a little further. */
				struct stat st;
				bool more = false;
				for (uint32_t k = s + 1; k < s + JOB_LOG_SEGS + 2 && !more; k++) {
					snprintf(name, sizeof(name), "log.%u", k);
					more = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
				}
				if (!more)
					break;
			}
		}
		close(dfd);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		r = -errno;
	free(dir);
	return r;
}

/* A snapshot that still holds what a job wrote is not removed: a notice
 * (id 0: nothing failed) says where it is. */
static void snapshot_kept(void *arg, const char *what, const char *why)
{
	notice(arg, 0, "kept %s: %s", what, why);
}

int agent_job_rm(struct conn *c, struct rd *body)
{
	uint8_t prune = rd_u8(body);
	uint64_t older = rd_u64(body);
	uint32_t n;
	uint32_t *want = job_ids_decode(body, &n);
	rd_expect_end(body);
	if (!rd_ok(body) || prune > 1 || (!prune && n == 0)) {
		free(want);
		agent_error(c, PERR_PROTOCOL, "malformed rm request");
		return -1;
	}
	char *jobs = jobs_or_error(c);
	if (jobs == NULL) {
		free(want);
		return 0;
	}
	size_t nids = n, nr = 0;
	uint32_t *ids = prune ? job_ids(jobs, &nids) : want;
	uint64_t now = now_wall_ns();
	char **roots = xcalloc(nids + 1, sizeof(char *));
	for (size_t i = 0; i < nids; i++) {
		struct job j;
		if (job_load(jobs, ids[i], &j) < 0) {
			if (!prune)
				notice(c, ids[i], "no job %u on this server", ids[i]);
			continue;
		}
		bool running = j.state == JOB_RUNNING || j.state == JOB_QUEUED;
		bool old = j.end_ns == 0 || now - j.end_ns >= older;
		if (running) {
			if (!prune)
				notice(c, ids[i], "job %u is %s: not removed (`ferry kill %u` first)", ids[i],
				       job_state_name(j.state), ids[i]);
		} else if (!prune || old) {
			int r = rm_job_dir(jobs, ids[i]);
			if (r < 0)
				notice(c, ids[i], "cannot remove job %u: %s", ids[i], strerror(-r));
			else
				send_record(c, &j);
			bool seen = false;
			for (size_t k = 0; k < nr && !seen; k++)
				seen = strcmp(roots[k], j.root) == 0;
			if (!seen && j.snapshot[0])
				roots[nr++] = xstrdup(j.root);
		}
		job_release(&j);
	}
	/* Snapshots no kept job uses go, per project folder touched. */
	size_t nleft;
	uint32_t *left = job_ids(jobs, &nleft);
	char **keep = xcalloc(nleft + 1, sizeof(char *));
	size_t nk = 0;
	for (size_t i = 0; i < nleft; i++) {
		struct job j;
		if (job_load(jobs, left[i], &j) < 0)
			continue;
		keep[nk++] = xstrdup(j.snapshot);
		job_release(&j);
	}
	/* Both places a project's snapshots may be (it may have been shared
	 * once); the state folder's only when it exists, never made here. */
	for (size_t k = 0; k < nr; k++) {
		char *sdir = agent_state_dir(roots[k]), *mine = xasprintf("%s/snap", sdir), *in = xasprintf("%s/%s", roots[k], SNAP_DIR);
		(void)snapshot_prune(roots[k], in, keep, nk, snapshot_kept, c);
		if (access(mine, F_OK) == 0)
			(void)snapshot_prune(roots[k], mine, keep, nk, snapshot_kept, c);
		free(sdir);
		free(mine);
		free(in);
	}
	free_words(keep);
	free_words(roots);
	free(left);
	conn_queue(c, MSG_JOB_LIST_END, NULL, 0);
	if (ids != want)
		free(ids);
	free(want);
	free(jobs);
	return 0;
}
