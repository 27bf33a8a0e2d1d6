/*
 * sync-pull.c - a pull as a library call (sync-pull.h).
 *
 * The roles of a push reversed: the agent scans its pull folders and
 * streams the files, this side runs the destination engine (sync-dest.c)
 * beneath the project root.  The agent is a peer like any other: nothing
 * it sends lands outside the folders pulled.
 */
#define _GNU_SOURCE
#include "sync-pull.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "session.h"
#include "sync-dest.h"
#include "sync-ignore.h"
#include "sync-index.h"
#include "sync-push.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

struct pull {
	const struct config *cfg;
	const struct sync_pull_opts *o;
	const struct sync_pull_hooks *h;
	struct sync_pull_result *res;
	struct session s;
	struct ferr *e;
	struct ignore pull_ignore;	/* the project file's pull_ignore */
	char *job_known;		/* paths earlier job pulls brought (pull.jobs) */
	struct index ix, kin, kout;	/* our index; local edits kept, before and after */
	char *tdir, *ixfile, *jfile, *kfile, *jobsfile;
	struct dest_redir *redir;	/* the project's pull folders, links followed or not */
	uint32_t nredir;
};

bool sync_path_under(const char *a, const char *b)
{
	size_t n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static void on_report(void *arg, uint16_t type, uint32_t code, const char *path, const char *msg)
{
	struct pull *p = arg;
	struct sync_pull_result *r = p->res;
	bool full = false;
	if (type == MSG_SYNC_CONFLICT) {
		r->conflicts++;
	} else if (type == MSG_SYNC_KEEP) {
		r->kept_edits++;
	} else if (type == MSG_SYNC_DELETE) {
		r->deletes++;
		path_sample_add(&r->deleted, path);
	} else {
		full = code == ENOSPC || code == EDQUOT;
		r->errors++;
		r->disk_full |= full;
	}
	if (p->h->report)
		p->h->report(p->h->arg, type, path, msg, full);
}

static void on_need(void *arg, const struct sync_entry *e)
{
	struct pull *p = arg;
	p->res->nneed++;
	if (p->h->need)
		p->h->need(p->h->arg, e);
}

/* Frames from the agent the engine leaves to us: its notices about files
 * it could not read, and its errors. */
static int on_other(void *arg, uint16_t type, struct rd *body)
{
	struct pull *p = arg;
	uint32_t code;
	char *path, *msg;
	if (type == MSG_SYNC_SKIPPED) {
		sync_skipped_release(&p->res->skipped);
		if (sync_skipped_decode(body, &p->res->skipped) == 0)
			return 0;
	} else if (type == MSG_SYNC_ERROR && sync_report_decode(body, &code, &path, &msg) == 0) {
		if (code)
			p->res->remote_errors++;
		if (p->h->notice)
			p->h->notice(p->h->arg, p->s.label, path, msg);
		free(path);
		free(msg);
		return 0;
	}
	if (type == MSG_ERROR) {
		(void)err_from_peer(body, p->s.label, p->e);
		return -1;
	}
	ferr_set(p->e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type,
		 p->s.label);
	return -1;
}

static void on_proto_error(void *arg, const char *msg)
{
	struct pull *p = arg;
	ferr_set(p->e, EXIT_PROTO, NULL, "the agent on '%s' broke the protocol: %s", p->s.label, msg);
}

static void on_progress(void *arg, uint64_t bytes, bool file_done)
{
	struct pull *p = arg;
	p->res->bytes += bytes;
	if (p->h->progress)
		p->h->progress(p->h->arg, bytes, file_done);
}

/* An indexed path the server no longer sends though it was not deleted
 * there: pull_ignore now skips it, or its folder is no longer a pull
 * folder.  The file stays here; the index forgets it. */
static bool forget_path(void *arg, const char *path, bool is_dir)
{
	struct pull *p = arg;
	static const char *const dflt[] = { "results" };
	size_t np = p->cfg->pull.n ? p->cfg->pull.n : 1;
	char *const *pf = p->cfg->pull.n ? p->cfg->pull.v : (char *const *)dflt;
	bool pulled = false;
	for (size_t j = 0; j < np && !pulled; j++)
		pulled = sync_path_under(path, pf[j]);
	for (uint32_t j = 0; p->o->job && j < p->o->nfolders && !pulled; j++)
		pulled = sync_path_under(path, p->o->folders[j]);
	if (pulled && !ignore_path(&p->pull_ignore, path, is_dir, NULL))
		return false;
	/* Brought by `pull --job`: not a pull folder's, never forgotten
	 * (nor deleted: out of a plain pull's scope). */
	if (!pulled && p->job_known) {
		char *all = xstrdup(p->job_known), *save = NULL;
		for (char *k = strtok_r(all, "\n", &save); k && !pulled; k = strtok_r(NULL, "\n", &save))
			pulled = sync_path_under(path, k);
		free(all);
		if (pulled)
			return false;
	}
	if (!is_dir)
		path_sample_add(&p->res->forgotten, path);
	return true;
}

/* The record of local edits kept (sync-dest.h, kept_in/kept_out) after
 * this pull: what the engine recorded, plus the old records outside the
 * folders this pull covered.  Both are in walk order. */
static void save_kept(const char *file, const struct index *in, const struct index *out, char *const *folders,
		      uint32_t nfolders)
{
	struct index nx;
	size_t i = 0, j = 0;
	index_init(&nx);
	while (i < in->n || j < out->n) {
		const char *a = i < in->n ? index_path(in, &in->e[i]) : NULL;
		const char *b = j < out->n ? index_path(out, &out->e[j]) : NULL;
		int c = a == NULL ? 1 : b == NULL ? -1 : path_cmp(a, b);
		const struct index *from = c <= 0 ? in : out;
		const struct index_entry *e = c <= 0 ? &in->e[i] : &out->e[j];
		bool take = c > 0;
		if (c <= 0) {
			take = c < 0;
			for (uint32_t k = 0; k < nfolders && take; k++)
				take = !sync_path_under(a, folders[k]);
			i++;
			if (c == 0) {
				from = out;
				e = &out->e[j++];
				take = true;
			}
		} else {
			j++;
		}
		int err;
		struct index_entry *x = take ? index_append(&nx, index_path(from, e), &err) : NULL;
		if (x) {
			uint32_t off = x->path_off;
			*x = *e;
			x->path_off = off;
		}
	}
	if (nx.n)
		(void)index_save(file, &nx);
	else
		(void)unlink(file);
	index_release(&nx);
}

/* The paths this job pull brought, for later plain pulls. */
static void save_job_paths(const struct pull *p)
{
	struct buf jb;
	buf_init(&jb, PULL_JOBS_MAX);
	if (p->job_known)
		buf_put(&jb, p->job_known, strlen(p->job_known));
	for (uint32_t i = 0; i < p->o->nfolders; i++) {
		bool known = false;
		char *all = xstrdup(p->job_known ? p->job_known : ""), *save = NULL;
		for (char *k = strtok_r(all, "\n", &save); k && !known; k = strtok_r(NULL, "\n", &save))
			known = strcmp(k, p->o->folders[i]) == 0;
		free(all);
		if (!known && buf_put(&jb, p->o->folders[i], strlen(p->o->folders[i])) == 0)
			buf_put(&jb, "\n", 1);
	}
	(void)write_cache_atomic(p->jobsfile, jb.data, jb.len, 0600);
	buf_release(&jb);
}

/* An index that will not load is no index: as if this were the first. */
static void load_or_empty(const char *file, struct index *ix)
{
	if (index_load(file, ix) < 0) {
		index_release(ix);
		index_init(ix);
	}
}

/* Our state: the target's folder, locked (one pull of a target at a
 * time, on this side too), the indexes.  Returns the lock's fd, or -1
 * with p->e set. */
static int pull_state(struct pull *p)
{
	const char *why;
	p->tdir = sync_target_dir(p->cfg);
	if (dir_private(p->tdir, &why) < 0) {
		ferr_set(p->e, EXIT_OSERR, NULL, "cannot use ferry's state folder '%s': %s", p->tdir,
			 why ? why : strerror(errno));
		return -1;
	}
	char *f = xasprintf("%s/pull.lock", p->tdir);
	int fd = lock_file_wait(f, SYNC_LOCK_WAIT_MS);
	if (fd == -EWOULDBLOCK)
		ferr_set(p->e, EXIT_FAIL, NULL, "another pull of this target is running");
	else if (fd < 0)
		ferr_set(p->e, EXIT_OSERR, NULL, "cannot lock '%s': %s", f, strerror(-fd));
	free(f);
	if (fd < 0)
		return -1;
	p->ixfile = xasprintf("%s/pull.index", p->tdir);
	p->jfile = xasprintf("%s/pull.journal", p->tdir);
	p->kfile = xasprintf("%s/pull.kept", p->tdir);
	p->jobsfile = xasprintf("%s/pull.jobs", p->tdir);
	size_t jlen = 0;
	if (read_file(p->jobsfile, PULL_JOBS_MAX, &p->job_known, &jlen) < 0)
		p->job_known = NULL;
	return fd;
}

static void pull_release(struct pull *p)
{
	for (uint32_t i = 0; i < p->nredir; i++) {
		if (p->redir[i].fd >= 0)
			close(p->redir[i].fd);
		free((char *)p->redir[i].why);
	}
	free(p->redir);
	index_release(&p->ix);
	index_release(&p->kin);
	index_release(&p->kout);
	ignore_release(&p->pull_ignore);
	free(p->job_known);
	free(p->tdir);
	free(p->ixfile);
	free(p->jfile);
	free(p->kfile);
	free(p->jobsfile);
}

/* Is the folder open on fd the one st describes, or below it?  Walks
 * up by "..", by descriptor. */
static bool at_or_below(int fd, const struct stat *st)
{
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	bool found = false;
	for (int k = 0; cur >= 0 && k < 4096; k++) {
		struct stat here, up;
		if (fstat(cur, &here) < 0)
			break;
		if (here.st_dev == st->st_dev && here.st_ino == st->st_ino) {
			found = true;
			break;
		}
		int next = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = next;
		if (cur < 0 || fstat(cur, &up) < 0 || (up.st_dev == here.st_dev && up.st_ino == here.st_ino))
			break;	/* the top */
	}
	if (cur >= 0)
		close(cur);
	return found;
}

/* A pull folder that is a symlink is followed when it is the user's own
 * choice: the link is theirs, not one a pull placed (the index has no
 * file there), and it leads to a folder of theirs outside the project
 * folder (not holding it either), opened here once and checked on its
 * fd.  The folders above it are opened beneath the root,
 * never through a symlink.  r->fd >= 0: followed; r->why: a symlink not
 * followed; neither: no symlink there. */
static void pull_link(int rootfd, const struct index *ix, struct dest_redir *r)
{
	const char *rel = r->path, *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	uid_t me = geteuid();
	struct stat ls, ts, again;
	char target[4096];
	r->fd = -1;
	r->why = NULL;
	int dfd;
	if (slash) {
		char *up = xstrndup(rel, (size_t)(slash - rel));
		dfd = open_beneath(rootfd, up, O_RDONLY | O_DIRECTORY, 0);
		free(up);
	} else {
		dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	}
	if (dfd < 0)
		return;	/* as ever: what is in the way is reported by the engine */
	if (fstatat(dfd, name, &ls, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(ls.st_mode)) {
		close(dfd);
		return;
	}
	ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = '\0';
	const struct index_entry *o = index_find(ix, rel);
	int fd = -1;
	const char *bad = NULL;
	if (ls.st_uid != me)
		bad = "owned by another user";
	else if (o && o->type != ENT_DIR)
		bad = "that a pull placed";
	else if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC)) < 0)
		bad = errno == ENOENT ? "which does not exist" : errno == ENOTDIR || errno == ELOOP ? "which is not a folder"
										     : "which will not open";
	else if (fstat(fd, &ts) < 0 || !S_ISDIR(ts.st_mode))
		bad = "which is not a folder";
	else if (ts.st_uid != me)
		bad = "which is not your folder";
	else if (fstat(rootfd, &again) == 0 && at_or_below(fd, &again))
		bad = "which is inside the project folder";
	else if (at_or_below(rootfd, &ts))
		bad = "which holds the project folder";
	else if (fstatat(dfd, name, &again, AT_SYMLINK_NOFOLLOW) < 0 || again.st_ino != ls.st_ino ||
		 again.st_dev != ls.st_dev)
		bad = "which changed while it was opened";
	close(dfd);
	if (bad) {
		if (fd >= 0)
			close(fd);
		r->why = xasprintf("a symlink to %s, %s: not followed", target, bad);
		return;
	}
	r->fd = fd;
}

/* The project's pull folders, each looked at for a symlink (pull_link). */
static void pull_links(struct pull *p, int rootfd)
{
	static const char *const dflt[] = { "results" };
	size_t np = p->cfg->pull.n ? p->cfg->pull.n : 1;
	char *const *pf = p->cfg->pull.n ? p->cfg->pull.v : (char *const *)dflt;
	p->redir = xcalloc(np, sizeof(*p->redir));
	for (size_t i = 0; i < np; i++) {
		if (path_check_rel(pf[i], strlen(pf[i])) < 0)
			continue;
		p->redir[p->nredir].path = pf[i];
		pull_link(rootfd, &p->ix, &p->redir[p->nredir++]);
	}
}

/* The conversation: the session, then the destination engine. */
static int pull_converse(struct pull *p, int rootfd)
{
	const struct sync_pull_opts *o = p->o;
	const struct config *cfg = p->cfg;
	struct sync_begin sb = { 0 };
	struct session_opts so = { 0 };
	struct buf b;

	/* ssh and the agent start while we load our index. */
	if (session_start(&p->s, cfg, &so, p->e) < 0)
		return -1;
	sb.flags = SYNC_PULL | (o->force ? SYNC_FORCE : 0) | (o->dry_run ? SYNC_DRY_RUN : 0) |
		   (cfg->kind == TARGET_LOCAL ? SYNC_NO_ZSTD : 0) | (cfg->shared ? SYNC_SHARED : 0);
	sb.root = cfg->path;
	sb.pull = (char **)o->folders;
	sb.npull = o->nfolders;
	/* Pull folders come whole, whatever .gitignore says: only the
	 * project file's pull_ignore leaves results on the server. */
	sb.ignore = cfg->pull_ignore.v;
	sb.nignore = (uint32_t)cfg->pull_ignore.n;
	for (size_t i = 0; i < cfg->pull_ignore.n; i++)
		(void)ignore_add_pattern(&p->pull_ignore, cfg->pull_ignore.v[i], CONFIG_NAME, cfg->line[KEY_PULL_IGNORE]);
	/* Our index of every pull folder, with no pull interrupted since:
	 * the base for a changes-only manifest (sync-dest.h).  Loaded once,
	 * here; the engine takes it over. */
	load_or_empty(p->ixfile, &p->ix);
	load_or_empty(p->kfile, &p->kin);
	pull_links(p, rootfd);
	if (o->whole && p->ix.n && access(p->jfile, F_OK) < 0 && errno == ENOENT) {
		index_state_id(&p->ix, sb.base);
		sb.flags |= SYNC_BASE_ID;
	}
	buf_init(&b, FRAME_MAX);
	sync_begin_encode(&sb, &b);
	/* Signals keep their default: an interrupted pull leaves no partial
	 * file (temp + rename), and the next pull completes it. */
	int r = session_finish(&p->s, MSG_SYNC_BEGIN, &b, p->e);
	buf_release(&b);
	if (r < 0)
		return -1;
	p->res->label = xstrdup(p->s.label);
	struct dest_side side = {
		.c = &p->s.c, .rootfd = rootfd, .ixfile = p->ixfile, .jfile = p->jfile, .flags = sb.flags,
		.base_sent = sb.flags & SYNC_BASE_ID ? sb.base : NULL, .preloaded = &p->ix,
		.changes_only = &p->res->changes_only, .pull = sb.pull, .npull = sb.npull, .pull_side = true,
		.redir = p->redir, .nredir = p->nredir,
		.here = "laptop", .verb = "pull", .report = on_report, .other = on_other,
		.proto_error = on_proto_error, .need = on_need, .forget = forget_path, .kept_in = &p->kin,
		.kept_out = &p->kout, .force_paths = o->force_paths, .nforce = o->nforce, .progress = on_progress,
		.arg = p,
	};
	bool lost = false;
	r = dest_run(&side, &p->res->pe, &p->res->done, &lost);
	if (r < 0 && lost && p->e->code == 0)
		session_lost(&p->s, true, p->e);
	/* Bytes on the wire, after delta and compression. */
	p->res->wire_in = p->s.c.bytes_in;
	p->res->wire_out = p->s.c.bytes_out;
	session_close(&p->s);
	return r;
}

int sync_pull(const struct config *cfg, const struct sync_pull_opts *o, const struct sync_pull_hooks *h,
	      struct sync_pull_result *res, struct ferr *e)
{
	static const struct sync_pull_hooks none;
	struct pull p = { .cfg = cfg, .o = o, .h = h ? h : &none, .res = res, .e = e };
	int lockfd = -1, ret = -1;

	memset(res, 0, sizeof(*res));
	index_init(&p.ix);
	index_init(&p.kin);
	index_init(&p.kout);
	ignore_init(&p.pull_ignore);
	int rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		ferr_set(e, EXIT_OSERR, NULL, "cannot open the project folder '%s': %s", cfg->root, strerror(errno));
		goto out;
	}
	if ((lockfd = pull_state(&p)) < 0 || pull_converse(&p, rootfd) < 0)
		goto out;
	res->guard = res->pe.guard && !o->force;
	if (!o->dry_run && !res->guard)
		save_kept(p.kfile, &p.kin, &p.kout, o->folders, o->nfolders);
	if (o->job && !o->dry_run)
		save_job_paths(&p);
	ret = 0;
out:
	pull_release(&p);
	if (lockfd >= 0)
		close(lockfd);
	if (rootfd >= 0)
		close(rootfd);
	return ret;
}

void sync_pull_result_release(struct sync_pull_result *res)
{
	path_sample_release(&res->deleted);
	path_sample_release(&res->forgotten);
	sync_skipped_release(&res->skipped);
	free(res->label);
	res->label = NULL;
}
