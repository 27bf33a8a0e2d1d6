/*
 * sync-push.c - a push as a library call (sync-push.h).
 *
 * One pipelined session: the manifest (every entry of the push set with
 * its content hash; hashes come from the local cache when the stat says
 * the file is unchanged), then the agent's plan (which files it needs,
 * conflicts, deletions), then the needed files streamed back to back,
 * then a commit.  See docs/SYNC-DESIGN.md.  Nothing here prints or
 * exits: the command edge (cmd-push.c) does.
 */
#define _GNU_SOURCE
#include "sync-push.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "session.h"
#include "sync-dest.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-source.h"
#include "util.h"

#include "banned.h"

/* One attempt: a session, a manifest, a conversation. */
struct push {
	const struct config *cfg;
	const struct sync_push_opts *o;
	const struct sync_push_hooks *h;
	struct sync_push_result *res;
	struct session s;
	bool open;			/* s is open */
	bool base_sent;			/* SYNC_BEGIN carried our base */
	struct ferr *e;
	struct source src;
	bool have_src;			/* src was started */
	struct source_result sr;
	uint64_t total, sent;		/* file bytes to send, queued so far */
	bool retry_ok;			/* changed files may be pushed again */
	char *changed[PUSH_CHANGED_MAX];	/* such files this time */
	uint32_t nchanged;
};

/* The walk, run on a thread of its own while ssh connects. */
struct scan_job {
	const struct config *cfg;
	const struct sync_push_hooks *h;
	char *const *include;
	size_t ninclude;
	struct source *src;
	struct scan_stats st;
	char *err;
	int r;
};

static void *scan_main(void *arg)
{
	struct scan_job *j = arg;
	const struct sync_push_hooks *h = j->h;
	j->r = scan_push_set_with(j->cfg, j->include, j->ninclude, h->scan_warn, h->arg,
				  source_add, j->src, &j->st, &j->err);
	return NULL;
}

static void on_unreadable(void *arg, const char *path, const char *msg)
{
	struct push *p = arg;
	if (p->h->unreadable)
		p->h->unreadable(p->h->arg, path, msg);
}

char *sync_target_dir(const struct config *cfg)
{
	uint8_t h[INDEX_HASH_LEN];
	char *id = xasprintf("%d\n%s\n%s", (int)cfg->kind, cfg->host ? cfg->host : "", cfg->path);
	char hex[17];
	hash_bytes(id, strlen(id), h);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	free(id);
	return xasprintf("%s/%s/%s", cfg->root, FERRY_STATE_DIR, hex);
}

/* The agent's reports and errors (source_side.other). */
static int on_other(void *arg, uint16_t type, struct rd *body)
{
	struct push *p = arg;
	const struct sync_push_hooks *h = p->h;
	struct sync_push_result *res = p->res;
	uint32_t code;
	char *path, *msg;
	if (type == MSG_ERROR) {
		(void)err_from_peer(body, p->s.label, p->e);
		return -1;
	}
	if ((type != MSG_SYNC_CONFLICT && type != MSG_SYNC_DELETE && type != MSG_SYNC_ERROR) ||
	    sync_report_decode(body, &code, &path, &msg) < 0)
		goto bad;
	if (type == MSG_SYNC_CONFLICT) {
		res->conflicts++;
		if (h->conflict)
			h->conflict(h->arg, path, msg);
	} else if (type == MSG_SYNC_DELETE) {
		res->deletes++;
		path_sample_add(&res->deleted_paths, path);
		if (h->deletion)
			h->deletion(h->arg, path);
	} else if (code == EBADMSG && p->retry_ok && p->nchanged < PUSH_CHANGED_MAX) {
		/* Changed while it was read: the push runs again (with its
		 * new content) before this is an error. */
		p->changed[p->nchanged++] = path;
		path = NULL;
	} else {
		bool full = code == ENOSPC || code == EDQUOT;
		res->remote_errors++;
		res->disk_full |= full;
		if (h->write_error)
			h->write_error(h->arg, p->s.label, path, msg, full);
	}
	free(path);
	free(msg);
	return 0;
bad:
	ferr_set(p->e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type,
		 p->s.label);
	return -1;
}

static void on_proto_error(void *arg, uint16_t type)
{
	struct push *p = arg;
	if (p->e->code)
		return;		/* the first reason stands */
	if (type == 0)
		ferr_set(p->e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", p->s.label);
	else
		ferr_set(p->e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type,
			 p->s.label);
}

static void on_progress(void *arg, uint64_t n, int what)
{
	struct push *p = arg;
	if (p->total == 0)
		for (size_t i = 0; i < p->sr.nneed; i++)
			p->total += p->src.e[p->sr.need[i]].size;
	p->sent += n;
	if (p->h->progress)
		p->h->progress(p->h->arg, p->sent, p->total, p->sr.files_sent, p->sr.nneed, what == SOURCE_ALL_SENT);
}

/* The session and the walk, side by side: ssh and the agent start, then
 * the walk (and hashing) on a thread while we load the cache; on a warm
 * ControlMaster the connection costs more than the walk.  0, or -1 with
 * p->e set. */
static int push_open(struct push *p, struct scan_job *sj, const char *cache)
{
	const struct config *cfg = p->cfg;
	const struct sync_push_opts *o = p->o;
	struct sync_begin sb = { 0 };
	struct session_opts so = { .batch = o->batch };
	struct buf b;

	int opened = 0;
	if (o->session)
		p->s = *o->session;	/* handed back by push_release */
	else
		opened = session_start(&p->s, cfg, &so, p->e);
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, scan_main, sj) == 0;
	source_load_cache(&p->src, cache);
	trace_phase("cache loaded");
	sb.flags = (o->force ? SYNC_FORCE : 0) | (o->dry_run ? SYNC_DRY_RUN : 0) |
		   (cfg->kind == TARGET_LOCAL ? SYNC_NO_ZSTD : 0) | (o->nforce ? SYNC_FORCE_PATHS : 0) |
		   (cfg->shared ? SYNC_SHARED : 0);
	sb.force = (char **)o->force_paths;
	sb.nforce = o->nforce;
	/* The manifest we sent last time: if the agent's index is still the
	 * result of it, only what changed since needs to travel. */
	p->base_sent = source_base_id(&p->src, sb.base);
	if (p->base_sent)
		sb.flags |= SYNC_BASE_ID;
	sb.root = cfg->path;
	const char *dpull[] = { "results" };
	sb.npull = (uint32_t)(cfg->pull.n ? cfg->pull.n : 1);
	sb.pull = cfg->pull.n ? cfg->pull.v : (char **)dpull;
	buf_init(&b, FRAME_MAX);
	sync_begin_encode(&sb, &b);
	if (!threaded)
		scan_main(sj);
	if (opened == 0 && o->session)
		opened = conn_queue(&p->s.c, MSG_SYNC_BEGIN, b.data, b.len) < 0 ? -1 : 0;
	else if (opened == 0)
		opened = session_finish(&p->s, MSG_SYNC_BEGIN, &b, p->e);
	if (opened < 0 && o->session) {
		*o->session = p->s;
		ferr_set(p->e, EXIT_INTERNAL, NULL, "the sync's first request does not fit the session's queue");
	}
	buf_release(&b);
	if (threaded)
		pthread_join(th, NULL);
	source_scan_done(&p->src);
	/* A local link is faster than any compression. */
	p->src.z.enabled = cfg->kind != TARGET_LOCAL;
	trace_phase("session open, scanned");
	p->open = opened == 0;
	if (p->open && p->res->label == NULL)
		p->res->label = xstrdup(p->s.label);
	if (sj->r < 0) {
		if (p->e->code == 0)
			ferr_set(p->e, EXIT_OSERR, NULL, "%s", sj->err);
		return -1;
	}
	if (!p->open)
		return -1;
	/* push --ignored: a path the walk did not reach (outside the push
	 * folders, in a pull folder, .git) is said, and nothing is sent. */
	for (uint32_t i = 0; i < o->ninclude; i++) {
		bool found = false;
		for (size_t k = 0; k < p->src.n && !found; k++)
			found = strcmp(p->src.e[k].path, o->include[i]) == 0;
		if (!found) {
			ferr_set(p->e, EXIT_FAIL, NULL, "cannot push '%s': it is not in a push folder, or is in a pull "
				 "folder or ferry's own (see `ferry check-ignore -v %s`)", o->include[i], o->include[i]);
			return -1;
		}
	}
	return 0;
}

/* Files and symlinks in the push set: what ls-files lists, push and the
 * dry run count, not folders. */
static size_t files_in(const struct source *src)
{
	size_t n = 0;
	for (size_t i = 0; i < src->n; i++)
		n += src->e[i].type != ENT_DIR;
	return n;
}

/* The conversation, then what it comes to.  0, or -1 with p->e set. */
static int push_converse(struct push *p)
{
	const struct sync_push_opts *o = p->o;
	struct sync_push_result *res = p->res;
	struct source_side side = {
		.c = &p->s.c, .src = &p->src, .base_asked = p->base_sent, .send_keeps = true, .wait_done = true,
		.flags = (o->force ? SYNC_FORCE : 0) | (o->dry_run ? SYNC_DRY_RUN : 0),
		.other = on_other, .proto_error = on_proto_error, .progress = on_progress, .arg = p,
	};
	if (source_run(&side, &p->sr) < 0) {
		if (p->sr.lost && p->e->code == 0)
			session_lost(&p->s, true, p->e);
		return -1;
	}
	const struct sync_plan_end *pe = &p->sr.pe;
	res->need = pe->need;
	res->plan_deletes = pe->deletes;
	res->indexed = pe->indexed;
	res->guard = (pe->guard || dest_guard_trips(pe)) && !o->force;
	res->written = p->sr.done.written;
	res->deleted = p->sr.done.deleted;
	res->files = files_in(&p->src);
	res->bytes = p->sent;
	res->wire_out = p->s.c.bytes_out;
	res->wire_in = p->s.c.bytes_in;
	res->changes_only = p->sr.changes_only;
	res->manifest_entries = p->sr.sent_entries;
	path_sample_release(&res->kept);
	res->kept = p->sr.kept;
	memset(&p->sr.kept, 0, sizeof(p->sr.kept));
	if (o->dry_run) {
		res->sends = xcalloc(p->sr.nneed + 1, sizeof(*res->sends));
		for (size_t i = 0; i < p->sr.nneed; i++) {
			const struct sync_entry *x = &p->src.e[p->sr.need[i]];
			res->sends[res->nsends++] = (struct sync_push_send){ xstrdup(x->path), x->size };
		}
	}
	return 0;
}

static void push_release(struct push *p)
{
	for (uint32_t i = 0; i < p->nchanged; i++)
		free(p->changed[i]);
	source_result_release(&p->sr);
	if (p->have_src) {
		int fd = p->src.rootfd;
		source_release(&p->src);
		close(fd);
	}
	if (p->open && p->o->session)
		*p->o->session = p->s;	/* the caller's, still open */
	else if (p->open)
		session_close(&p->s);
}

/* One attempt.  1 when files changed while they were sent and it may go
 * again, 0 when done, -1 with e set. */
static int push_attempt(struct push *p, const char *tdir, struct session *keep, int retries_left)
{
	struct sync_push_result *res = p->res;
	struct scan_job sj = { .cfg = p->cfg, .h = p->h, .src = &p->src, .include = p->o->include, .ninclude = p->o->ninclude };
	char *cache = xasprintf("%s/push.index", tdir);
	const char *why;
	int ret = -1;

	int rootfd = open(p->cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ferr_set(p->e, EXIT_OSERR, NULL, "cannot open the project folder '%s': %s", p->cfg->root,
			 strerror(errno));
		goto out;
	}
	source_init(&p->src, rootfd, NULL);
	p->have_src = true;
	p->src.warn = on_unreadable;
	p->src.arg = p;
	p->src.defer_big = !p->o->dry_run;
	p->retry_ok = retries_left > 0;
	if (push_open(p, &sj, cache) < 0 || push_converse(p) < 0)
		goto out;
	res->errors = sj.st.errors + p->src.errors;
	if (p->sr.stopped) {
		ret = 0;
		goto out;
	}
	if (dir_private(tdir, &why) == 0)
		source_save_cache(&p->src, cache);
	trace_phase("cache saved");
	/* Files changed while they were sent were not placed: once more,
	 * with what they hold now (only they travel), unless there are
	 * other problems to report. */
	if (p->nchanged && !res->disk_full && !res->remote_errors && !res->conflicts) {
		ret = 1;
		goto out;
	}
	for (uint32_t i = 0; i < p->nchanged; i++) {
		res->remote_errors++;
		if (p->h->write_error)
			p->h->write_error(p->h->arg, p->s.label, p->changed[i], NULL, false);
	}
	ret = 0;
	if (keep && res->remote_errors == 0 && res->conflicts == 0 && res->errors == 0) {
		*keep = p->s;
		p->open = false;
	}
out:
	free(sj.err);
	free(cache);
	return ret;
}

int sync_push(const struct config *cfg, const struct sync_push_opts *o, const struct sync_push_hooks *h,
	      struct sync_push_result *res, struct session *keep, struct ferr *e)
{
	static const struct sync_push_hooks none;
	uint64_t t0 = now_mono_ns();
	char *tdir = sync_target_dir(cfg);
	int r;

	memset(res, 0, sizeof(*res));
	trace_phase("start");
	/* What the rounds before the last did: files placed and deleted and
	 * bytes sent are still done, and count; the plan, conflicts and
	 * errors are the last round's. */
	struct {
		uint32_t written, deleted;
		uint64_t bytes, wire_out, wire_in;
	} before = { 0 };
	/* A loop, not recursion: each round a fresh session and walk. */
	for (int left = o->session ? 0 : PUSH_RETRIES;; left--) {
		struct push p = { .cfg = cfg, .o = o, .h = h ? h : &none, .res = res, .e = e };
		r = push_attempt(&p, tdir, keep, left);
		uint32_t nchanged = p.nchanged;
		push_release(&p);
		if (r != 1)
			break;
		before.written += res->written;
		before.deleted += res->deleted;
		before.bytes += res->bytes;
		before.wire_out += res->wire_out;
		before.wire_in += res->wire_in;
		char *label = res->label;
		res->label = NULL;
		sync_push_result_release(res);
		memset(res, 0, sizeof(*res));
		res->label = label;
		if (p.h->again)
			p.h->again(p.h->arg, nchanged);
	}
	free(tdir);
	res->ns = now_mono_ns() - t0;
	res->written += before.written;
	res->deleted += before.deleted;
	res->bytes += before.bytes;
	res->wire_out += before.wire_out;
	res->wire_in += before.wire_in;
	if (r < 0)
		return -1;
	res->code = res->disk_full || res->remote_errors ? EXIT_REMOTE
		    : res->guard || res->conflicts || res->errors ? EXIT_FAIL : 0;
	return 0;
}

void sync_push_result_release(struct sync_push_result *res)
{
	path_sample_release(&res->deleted_paths);
	path_sample_release(&res->kept);
	for (size_t i = 0; i < res->nsends; i++)
		free(res->sends[i].path);
	free(res->sends);
	res->sends = NULL;
	res->nsends = 0;
	free(res->label);
	res->label = NULL;
}
