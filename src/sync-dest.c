/*
 * sync-dest.c - the destination engine (sync-dest.h): plan, receive,
 * place, delete, record.
 */
#define _GNU_SOURCE
#include "sync-dest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync-delta.h"
#include "fsx.h"
#include "limits.h"
#include "sync-apply.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "util.h"
#include "sync-zstd.h"

#include "banned.h"

/* An old index entry the manifest no longer has: deleted, kept as a
 * conflict, or forgotten (an ignore rule is never a deletion: the file
 * stays, the index lets go of it). */
enum { DEL_NO, DEL_DELETE, DEL_CONFLICT, DEL_FORGET };

/* ACT_KEPT: an edit here kept, the source's copy unchanged (a pull). */
enum act { ACT_NONE, ACT_NEED, ACT_MKDIR, ACT_LINK, ACT_META, ACT_CONFLICT, ACT_FAILED, ACT_DONE, ACT_KEPT };

struct dest {
	const struct dest_side *s;
	struct conn *c;
	int rootfd;
	/* The pull folders that are symlinks (sync-dest.h): the side's
	 * table, or none (nredir 0: every path is beneath rootfd, at no
	 * cost). */
	const struct dest_redir *redir;
	uint32_t nredir;
	struct index old;	/* the index, with the journal merged */
	struct index prev;	/* the index alone, when there was a journal */
	struct sync_entry *e;	/* the manifest, in walk order */
	uint8_t *act;
	size_t n, cap;
	uint8_t *del;		/* per old entry: DEL_* */
	/* SYNC_KEEP: paths the source still has but a rule now leaves out,
	 * in walk order: forgotten, never deleted. */
	char **keep;
	size_t nkeep;
	int journal;		/* fd of the journal of files placed */
	struct seen { struct apply_stat st; bool have; } *seen;
				/* per entry: the destination's stat at planning,
				 * then as placed */
	struct apply_stat *delst;	/* per old entry planned for deletion */
	/* dest_lstat's folders: the fds of the folders down to the last
	 * one (ds[k] for dpath's first dlen[k] bytes; none: the root), and
	 * a folder on that way that would not open (bad bytes, -errno). */
	char dpath[PATH_REL_MAX + 1];
	int ds[SCAN_DEPTH_MAX + 1];
	size_t dlen[SCAN_DEPTH_MAX + 1], nds, bad;
	int bad_err;
	bool lost;		/* the connection ended */
	bool sweep;		/* a sync did not finish: look for its temp files */
	char *made;		/* the folder parent_dirs made last */
	size_t same;		/* entries left exactly as the index has them */
	/* Per index entry, its lstat taken while the source still walks (a
	 * changes-only manifest: the index is the base): NULL otherwise. */
	struct prestat { struct apply_stat st; int err; } *pre;	/* 40 bytes, not a struct stat's 152 */
	struct sync_done done;
	uint32_t *sigbs;	/* per entry: block size of the signature sent, 0 none */
	/* Signatures made ahead (SYNC_HINT: large files the source names
	 * before hashing them), with the stat they were made from. */
	struct hint { char *path; struct delta_sig sig; struct apply_stat st; } *hints;
	size_t nhints;
	size_t sig_budget;	/* sum bytes the source may still hold */
	struct zunpack zu;
};

static void report(struct dest *d, uint16_t type, uint32_t code, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void report(struct dest *d, uint16_t type, uint32_t code, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	d->s->report(d->s->arg, type, code, path, m);
	free(m);
}

static void proto_error(struct dest *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void proto_error(struct dest *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	d->s->proto_error(d->s->arg, m);
	free(m);
}

/* A ping from the source (it measures the round trip): echoed at once.
 * false when the frame is not a well-formed ping (left to the caller). */
static bool pong(struct dest *d, uint16_t type, struct rd *body)
{
	uint64_t t;
	if (type != MSG_SYNC_PING || sync_ping_decode(body, &t) < 0)
		return false;
	struct buf b;
	buf_init(&b, 16);
	sync_ping_encode(t, &b);
	conn_queue(d->c, MSG_SYNC_PONG, b.data, b.len);
	buf_release(&b);
	return true;
}

/* The next frame from the source, flushing what we queued first (pings
 * are answered here).  1, or 0 when the connection ended. */
static int next_frame(struct dest *d, uint16_t *type, struct rd *body)
{
	do {
		if (conn_flush(d->c) < 0 || conn_read(d->c, type, body) <= 0) {
			d->lost = true;
			return 0;
		}
	} while (pong(d, *type, body));
	return 1;
}

/* Pings that have arrived, answered without waiting for anything: a
 * ping left unread while we walk would make the link look slower than it
 * is.  A few at a time: a peer that sends nothing but pings gets no more
 * of our memory than one that sends nothing. */
static void answer_pings(struct dest *d)
{
	uint16_t type;
	struct rd body;
	bool any = false;
	for (int k = 0; k < PING_ANSWER_MAX && conn_ready(d->c) == 1 && conn_next(d->c, &type, &body) == 1; k++) {
		if (!pong(d, type, &body)) {
			conn_unread(d->c);
			break;
		}
		any = true;
	}
	if (any)
		(void)conn_flush_some(d->c);
}

/* path equals a pull folder or lies inside one. */
static bool in_pull(const struct dest_side *s, const char *path)
{
	for (uint32_t i = 0; i < s->npull; i++) {
		size_t n = strlen(s->pull[i]);
		if (strncmp(path, s->pull[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

/* Is path one of the project's pull folders (a pull, sync-dest.h)? */
static bool pull_folder(const struct dest_side *s, const char *path)
{
	for (uint32_t i = 0; i < s->nredir; i++)
		if (strcmp(s->redir[i].path, path) == 0)
			return true;
	return false;
}

/* May this side write path?  A push stays out of the pull folders, a pull
 * stays inside them. */
static bool in_scope(const struct dest_side *s, const char *path)
{
	return in_pull(s, path) == s->pull_side;
}

int dest_base(const struct dest_redir *r, uint32_t nr, int rootfd, const char *path, const char **rest)
{
	int fd = rootfd;
	size_t best = 0;
	*rest = path;
	for (uint32_t i = 0; i < nr; i++) {
		size_t n = strlen(r[i].path);
		if (r[i].fd < 0 || n <= best || strncmp(path, r[i].path, n) != 0 || (path[n] != '\0' && path[n] != '/'))
			continue;
		best = n;
		fd = r[i].fd;
		*rest = path[n] ? path + n + 1 : path + n;
	}
	return fd;
}

/* dest_base for this sync. */
static int at(const struct dest *d, const char *path, const char **rest)
{
	if (d->nredir == 0) {
		*rest = path;
		return d->rootfd;
	}
	return dest_base(d->redir, d->nredir, d->rootfd, path, rest);
}

/* Is path a pull folder that is followed (its own path, not below)? */
static bool redir_root(const struct dest *d, const char *path)
{
	const char *rest;
	return d->nredir && at(d, path, &rest) != d->rootfd && rest[0] == '\0';
}

/* The pull folder (its path) that path is at or below, when that folder
 * is a symlink not followed; NULL otherwise. */
static const char *redir_refused(const struct dest *d, const char *path)
{
	for (uint32_t i = 0; i < d->nredir; i++) {
		size_t n = strlen(d->redir[i].path);
		if (d->redir[i].fd < 0 && d->redir[i].why && strncmp(path, d->redir[i].path, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/'))
			return d->redir[i].path;
	}
	return NULL;
}

/* The why of the refused redirect at path. */
static const char *redir_why(const struct dest *d, const char *path)
{
	for (uint32_t i = 0; i < d->nredir; i++)
		if (strcmp(d->redir[i].path, path) == 0 && d->redir[i].why)
			return d->redir[i].why;
	return "a symlink: not followed";
}

/* apply_lstat where path lives (a followed pull folder itself: its
 * folder, by the fd opened). */
static int d_lstat(const struct dest *d, const char *path, struct stat *st)
{
	const char *rest;
	int fd = at(d, path, &rest);
	if (rest[0] == '\0')
		return fstat(fd, st) < 0 ? -errno : 0;
	return apply_lstat(fd, rest, st);
}

static uint8_t type_of_mode(mode_t m)
{
	return S_ISREG(m) ? ENT_FILE : S_ISDIR(m) ? ENT_DIR : S_ISLNK(m) ? ENT_LINK : ENT_OTHER;
}

/* Is dpath's first n bytes a leading part of path's folder (dl bytes)? */
static bool dir_prefix(const char *dpath, size_t n, const char *path, size_t dl)
{
	return n <= dl && memcmp(dpath, path, n) == 0 && (n == 0 || n == dl || path[n] == '/');
}

/* lstat beneath the root.  Entries come in walk order, so the fds of the
 * folders on the way are kept as a stack: siblings share their folder's
 * fd, and a folder's subfolders open from it, one component at a time
 * with O_NOFOLLOW (never through a symlink, as open_beneath). */
static int dest_lstat(struct dest *d, const char *path, struct stat *st)
{
	if (d->nredir && redir_root(d, path))
		return d_lstat(d, path, st);
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	if (d->bad && dir_prefix(d->dpath, d->bad, path, dl))
		return d->bad_err;	/* a folder on the way would not open */
	d->bad = 0;
	while (d->nds && !dir_prefix(d->dpath, d->dlen[d->nds - 1], path, dl))
		close(d->ds[--d->nds]);
	size_t have = d->nds ? d->dlen[d->nds - 1] : 0;
	int fd = d->nds ? d->ds[d->nds - 1] : d->rootfd;
	while (have < dl) {
		size_t from = have ? have + 1 : 0;
		const char *end = memchr(path + from, '/', dl - from);
		size_t to = end ? (size_t)(end - path) : dl;
		char name[PATH_NAME_MAX + 1];
		if (to - from > PATH_NAME_MAX || d->nds == SCAN_DEPTH_MAX)
			return -ENAMETOOLONG;
		memcpy(name, path + from, to - from);
		name[to - from] = '\0';
		memcpy(d->dpath, path, to);
		int nfd;
		if (d->nredir && (d->dpath[to] = '\0', redir_root(d, d->dpath))) {
			const char *rest;
			nfd = fcntl(at(d, d->dpath, &rest), F_DUPFD_CLOEXEC, 0);	/* the folder it leads to */
		} else {
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			d->bad = to;
			d->bad_err = -errno;
			return d->bad_err;
		}
		d->ds[d->nds] = fd = nfd;
		d->dlen[d->nds++] = have = to;
	}
	if (fstatat(fd, slash ? slash + 1 : path, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Modes.  Only permission bits are placed, under this side's umask
 * (sync_mode_here): a peer never plants a setuid file here.  The index
 * keeps the mode the source sent, so its state id still matches the
 * source's cache (a 0664 tree under umask 022 stays changes-only), and a
 * file is as ferry left it when its mode is what that mode becomes here.
 * A symlink's mode is whatever lstat says, kept as such. */
static mode_t mode_here(uint8_t type, uint16_t sent)
{
	return type == ENT_LINK ? sent : sync_mode_here(sent);
}

/* The mode an index entry records for e, whose stat here says disk. */
static uint16_t mode_indexed(const struct sync_entry *e, uint32_t disk)
{
	return e->type == ENT_LINK ? (uint16_t)(disk & 07777) : e->mode;
}

/* index_stat_clean for a file here: its mode compared as placed. */
static bool stat_clean_here(const struct index *ix, const struct index_entry *o, const struct stat *st)
{
	uint64_t mt = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
	return mode_here(o->type, o->mode) == (st->st_mode & 07777) &&
	       index_stat_clean(ix, o, (uint64_t)st->st_size, mt, (uint64_t)st->st_ino, o->mode);
}

static bool unchanged_as(struct dest *d, const struct index *ix, const struct index_entry *o, const char *path,
			 const struct stat *st)
{
	uint8_t h[INDEX_HASH_LEN];
	if (o == NULL || o->type != type_of_mode(st->st_mode))
		return false;
	if (o->type == ENT_DIR)
		return true;
	if (stat_clean_here(ix, o, st))
		return true;
	const char *rest;
	int fd = at(d, path, &rest);
	return apply_hash(fd, rest, st, h) == 0 && memcmp(h, o->hash, INDEX_HASH_LEN) == 0;
}

/* Is what is at path still what ferry left there?  The journal records a
 * file just before its rename; if the rename never happened, what is
 * there is still the version the index before the journal knew. */
static bool unchanged(struct dest *d, const struct index_entry *o, const char *path, const struct stat *st)
{
	if (unchanged_as(d, &d->old, o, path, st))
		return true;
	const struct index_entry *p = d->prev.n ? index_find(&d->prev, path) : NULL;
	return p && unchanged_as(d, &d->prev, p, path, st);
}

/* Does what is at the destination hold e's content?  Uses the index's
 * hash when the stat says the file is the one ferry left (no read). */
static bool same_content(struct dest *d, const struct sync_entry *e, const struct index_entry *o,
			 const struct stat *st)
{
	uint8_t h[INDEX_HASH_LEN];
	if (e->type != type_of_mode(st->st_mode))
		return false;
	if (e->type == ENT_DIR)
		return true;
	if (e->type == ENT_FILE && (uint64_t)st->st_size != e->size)
		return false;
	if (o && o->type == e->type && stat_clean_here(&d->old, o, st))
		return memcmp(o->hash, e->hash, INDEX_HASH_LEN) == 0;
	const char *rest;
	int fd = at(d, e->path, &rest);
	return apply_hash(fd, rest, st, h) == 0 && memcmp(h, e->hash, INDEX_HASH_LEN) == 0;
}

static void conflict(struct dest *d, size_t i, const char *why)
{
	d->act[i] = ACT_CONFLICT;
	d->done.conflicts++;
	report(d, MSG_SYNC_CONFLICT, 0, d->e[i].path, "%s", why);
}

/* Is entry i, left as it is (ACT_NONE), exactly what the index says,
 * stat included?  Then the index needs no rewrite for it. */
static bool as_indexed(const struct dest *d, size_t i, const struct index_entry *o)
{
	const struct sync_entry *e = &d->e[i];
	const struct apply_stat *a = &d->seen[i].st;
	if (o == NULL || d->act[i] != ACT_NONE || !d->seen[i].have || o->type != e->type ||
	    memcmp(o->hash, e->hash, INDEX_HASH_LEN) != 0 || o->mode != mode_indexed(e, a->mode) || o->size != a->size ||
	    o->mtime_ns != a->mtime_ns || o->ino != a->ino)
		return false;
	/* Racily clean: rewriting the index is what makes it trusted. */
	return e->type != ENT_FILE || o->mtime_ns + INDEX_RACY_NS < d->old.written_ns;
}

/* May --force PATH... overwrite path (a forced path or below one)? */
static bool forced(const struct dest_side *s, const char *path)
{
	if (s->flags & SYNC_FORCE)
		return true;
	for (size_t k = 0; k < s->nforce; k++) {
		size_t n = strlen(s->force_paths[k]);
		if (strncmp(path, s->force_paths[k], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

/* A file here that differs from the source's (st: here; o: the index).
 * Only this side changed it since the last sync when the source's hash
 * is the one ferry last brought (or, for an edit kept before, the one
 * the source had then): the edit is kept, reported the first time, and
 * recorded so that the next sync is quiet.  true when decided (kept, or
 * a conflict: an edit kept before and the source changed too). */
static bool keep_local_edit(struct dest *d, size_t i, const struct index_entry *o, const struct stat *st)
{
	const struct sync_entry *e = &d->e[i];
	const struct dest_side *s = d->s;
	if (s->kept_out == NULL || e->type != ENT_FILE || !S_ISREG(st->st_mode))
		return false;
	const struct index_entry *k = s->kept_in ? index_find(s->kept_in, e->path) : NULL;
	bool src_same;
	if (k) {
		src_same = memcmp(k->hash, e->hash, INDEX_HASH_LEN) == 0;
		if (!src_same) {
			char *why = xasprintf("changed on the %s (an edit kept before) and on the %s since the last %s",
					      s->here, s->pull_side ? "server" : "laptop", s->verb);
			conflict(d, i, why);
			free(why);
			return true;
		}
	} else {
		src_same = o && o->type == ENT_FILE && memcmp(o->hash, e->hash, INDEX_HASH_LEN) == 0 &&
			   !unchanged(d, o, e->path, st);
		if (!src_same)
			return false;
	}
	int err;
	struct index_entry *x = index_append(s->kept_out, e->path, &err);
	if (x) {
		x->type = ENT_FILE;
		x->mode = e->mode;
		x->size = e->size;
		x->mtime_ns = e->mtime_ns;
		memcpy(x->hash, e->hash, INDEX_HASH_LEN);
	}
	d->act[i] = ACT_KEPT;
	if (k == NULL)
		report(d, MSG_SYNC_KEEP, 0, e->path, "%s", "");
	return true;
}

/* Decides what to do with manifest entry i; o is its index entry. */
static void plan_one(struct dest *d, size_t i, const struct index_entry *o, const struct prestat *pre)
{
	const struct sync_entry *e = &d->e[i];
	struct stat st;
	/* A stat from before the manifest came is as good as one taken now:
	 * what changes after it is caught when the file is placed (expect)
	 * or, untouched, on the next sync (the index records this stat). */
	int r;
	if (pre) {
		/* The fields a plan reads (apply_stat_from's), no more. */
		memset(&st, 0, sizeof(st));
		st.st_size = (off_t)pre->st.size;
		st.st_mtim.tv_sec = (time_t)(pre->st.mtime_ns / 1000000000u);
		st.st_mtim.tv_nsec = (long)(pre->st.mtime_ns % 1000000000u);
		st.st_ino = (ino_t)pre->st.ino;
		st.st_mode = (mode_t)pre->st.mode;
		r = pre->err;
	} else {
		r = dest_lstat(d, e->path, &st);
	}
	bool force = forced(d->s, e->path);

	if (r == 0) {
		apply_stat_from(&d->seen[i].st, &st);
		d->seen[i].have = true;
	}

	if (r == -ENOENT) {
		d->act[i] = e->type == ENT_FILE ? ACT_NEED : e->type == ENT_DIR ? ACT_MKDIR : ACT_LINK;
		if (e->type == ENT_LINK && pull_folder(d->s, e->path)) {
			/* A symlink placed as a pull folder would be the user's
			 * own, followed by the next pull: never. */
			d->act[i] = ACT_FAILED;
			d->done.errors++;
			report(d, MSG_SYNC_ERROR, EPERM, e->path, "%s", "a pull folder from the server is a symlink: not placed");
		}
		return;
	}
	const char *refused = d->nredir ? redir_refused(d, e->path) : NULL;
	if (r < 0) {
		/* A symlink on the way (ELOOP) or a file where a folder is. */
		d->act[i] = ACT_FAILED;
		d->done.errors++;
		if (refused && (r == -ELOOP || r == -ENOTDIR))
			report(d, MSG_SYNC_ERROR, (uint32_t)-r, e->path, "%s is %s", refused, redir_why(d, refused));
		else
			report(d, MSG_SYNC_ERROR, (uint32_t)-r, e->path, "%s",
			       r == -ELOOP || r == -ENOTDIR ? "a symlink or file is in the way of its folder" : strerror(-r));
		return;
	}
	if (refused && strcmp(refused, e->path) == 0 && S_ISLNK(st.st_mode)) {
		conflict(d, i, redir_why(d, refused));
		return;
	}
	if (same_content(d, e, o, &st)) {
		/* A followed pull folder is the user's: its mode is theirs. */
		d->act[i] = (st.st_mode & 07777) != mode_here(e->type, e->mode) && e->type != ENT_LINK &&
				    !(d->nredir && redir_root(d, e->path)) ? ACT_META : ACT_NONE;
		if (e->type == ENT_FILE && d->act[i] == ACT_NONE) {
			uint64_t mt = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
			if (mt != e->mtime_ns)
				d->act[i] = ACT_META;
		}
		return;
	}
	if (!force && keep_local_edit(d, i, o, &st))
		return;
	if (e->type == ENT_DIR || type_of_mode(st.st_mode) == ENT_DIR) {
		/* A folder for a file or the other way round: never replaced
		 * without force, since a folder may hold anything. */
		if (!force || type_of_mode(st.st_mode) == ENT_DIR) {
			conflict(d, i, e->type == ENT_DIR ? "a file is where the folder goes" : "a folder is where the file goes");
			return;
		}
	} else if (!force && !unchanged(d, o, e->path, &st)) {
		char *why = o ? xasprintf("changed on the %s since the last %s", d->s->here, d->s->verb)
			      : xasprintf("exists on the %s but ferry did not put it there", d->s->here);
		conflict(d, i, why);
		free(why);
		return;
	}
	if (e->type == ENT_DIR) {
		d->act[i] = ACT_MKDIR;	/* the file in the way goes at apply time */
	} else {
		d->act[i] = e->type == ENT_FILE ? ACT_NEED : ACT_LINK;
	}
}

/* Old index entries the manifest no longer has: delete if unchanged. */
static void plan_deletes(struct dest *d, uint32_t *ndel)
{
	size_t j = 0, k = 0;
	*ndel = 0;
	d->del = xcalloc(d->old.n + 1, 1);
	d->delst = xcalloc(d->old.n + 1, sizeof(*d->delst));
	for (size_t i = 0; i < d->old.n; i++) {
		const struct index_entry *o = &d->old.e[i];
		const char *p = index_path(&d->old, o);
		/* In the manifest: its entry refers to this one (the refs rise
		 * with the manifest's order). */
		while (j < d->n && (d->e[j].ref == 0 || d->e[j].ref - 1 < i))
			j++;
		if (j < d->n && d->e[j].ref - 1 == i)
			continue;
		/* Left out by a rule, not deleted at the source: let go of it,
		 * leave the file (both lists are in walk order). */
		while (k < d->nkeep && path_cmp(d->keep[k], p) < 0)
			k++;
		if ((k < d->nkeep && strcmp(d->keep[k], p) == 0) ||
		    (d->s->forget && d->s->forget(d->s->arg, p, o->type == ENT_DIR))) {
			d->del[i] = DEL_FORGET;
			continue;
		}
		if (!in_scope(d->s, p))
			continue;	/* not ours to touch (the scope changed) */
		struct stat st;
		int r = d_lstat(d, p, &st);
		if (r == -ENOENT || r == -ENOTDIR)
			continue;	/* already gone */
		if (r == 0 && (o->type == ENT_DIR ? S_ISDIR(st.st_mode) : unchanged(d, o, p, &st))) {
			d->del[i] = DEL_DELETE;
			apply_stat_from(&d->delst[i], &st);
			if (o->type != ENT_DIR) {
				(*ndel)++;
				report(d, MSG_SYNC_DELETE, 0, p, "%s", "");
			}
		} else {
			d->del[i] = DEL_CONFLICT;
			d->done.conflicts++;
			report(d, MSG_SYNC_CONFLICT, 0, p, "deleted on the %s but changed on the %s since the last %s: kept",
			       d->s->pull_side ? "server" : "laptop", d->s->here, d->s->verb);
		}
	}
}

static int sig_frame(void *arg, const uint8_t *p, size_t n)
{
	struct dest *d = arg;
	conn_queue(d->c, MSG_SYNC_SIG, p, n);
	if (d->c->out.len > CONN_OUT_HIGH && conn_flush(d->c) < 0) {
		d->lost = true;
		return -1;
	}
	return 0;
}

static struct hint *find_hint(struct dest *d, const char *path, const struct apply_stat *old);

/* For a needed file whose old version is here and large: its signature,
 * right behind the NEED, so the source has it before it sends the file
 * (the stream stays pipelined: no round trip per file).  Best effort: a
 * file that cannot be read, or changed meanwhile, goes whole. */
static int send_sig(struct dest *d, size_t i)
{
	const struct sync_entry *e = &d->e[i];
	const struct apply_stat *old = &d->seen[i].st;
	struct delta_sig sig;
	struct stat st;
	struct apply_stat now;
	if (!d->seen[i].have || !S_ISREG(old->mode) || e->size < DELTA_MIN_SIZE || old->size < DELTA_MIN_SIZE)
		return 0;
	struct hint *h = find_hint(d, e->path, old);
	if (h) {
		int r = delta_sig_encode(&h->sig, (uint32_t)i, sig_frame, d);
		d->sigbs[i] = h->sig.g.bs;	/* its budget was taken when made */
		return r;
	}
	struct delta_geom g = { .bs = delta_block_size(old->size), .old_size = old->size };
	size_t bytes = (size_t)delta_nblocks(&g) * DELTA_SUM_LEN;
	if (g.bs == 0 || bytes > d->sig_budget)
		return 0;
	const char *rest;
	int base = at(d, e->path, &rest);
	int fd = open_beneath(base, rest, O_RDONLY | O_NONBLOCK, 0), r = 0;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && (apply_stat_from(&now, &st), apply_stat_same(&now, old)) &&
	    delta_sig_compute(fd, old->size, &sig) == 0) {
		r = delta_sig_encode(&sig, (uint32_t)i, sig_frame, d);
		d->sigbs[i] = sig.g.bs;
		d->sig_budget -= bytes;
		delta_sig_release(&sig);
	}
	close(fd);
	return r;
}

/* Paths of entries take_old made point into the index's own buffer
 * (100k copies saved); only the others are freed. */
static bool borrowed(const struct dest *d, const char *p)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)d->old.paths.data;
	return d->old.paths.data && a >= lo && a < lo + d->old.paths.len;
}

static void entry_release(const struct dest *d, struct sync_entry *e)
{
	if (borrowed(d, e->path))
		e->path = NULL;
	sync_entry_release(e);
}

/* Appends e (taken over) to the manifest: in walk order, in scope.  0,
 * or -1 after a protocol error. */
static int add_manifest(struct dest *d, struct sync_entry *e)
{
	/* Two entries of the index, in its order, are in walk order. */
	bool ordered = d->n == 0 || (e->ref && d->e[d->n - 1].ref && d->e[d->n - 1].ref < e->ref) ||
		       path_cmp(d->e[d->n - 1].path, e->path) < 0;
	if (!ordered || !in_scope(d->s, e->path) ||
	    d->n >= INDEX_ENTRIES_MAX) {
		proto_error(d, "sync entry '%s' out of order, repeated or %s", e->path,
			    d->s->pull_side ? "outside the pull folders" : "in a pull folder");
		entry_release(d, e);
		return -1;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->e = xrealloc(d->e, d->cap * sizeof(*d->e));
	}
	d->e[d->n++] = *e;
	return 0;
}

/* A changes-only manifest: the index entries before path (all of them
 * when path is NULL) are manifest entries unchanged since the base.  The
 * index has no symlink targets, so the source sends every symlink; one
 * left out is a protocol error, as is one out of scope (the source drops
 * what its scope no longer has). */
static int take_old(struct dest *d, size_t *j, const char *path)
{
	/* Where path goes among the rest of the index: a binary search, not
	 * a comparison per entry taken. */
	size_t end = d->old.n;
	if (path) {
		size_t lo = *j;
		while (lo < end) {
			size_t mid = lo + (end - lo) / 2;
			if (path_cmp(index_path(&d->old, &d->old.e[mid]), path) < 0)
				lo = mid + 1;
			else
				end = mid;
		}
	}
	for (; *j < end; (*j)++) {
		const struct index_entry *o = &d->old.e[*j];
		const char *op = index_path(&d->old, o);
		if (o->type != ENT_FILE && o->type != ENT_DIR) {
			proto_error(d, "'%s' left out of a changes-only manifest: a symlink must be sent", op);
			return -1;
		}
		struct sync_entry e = { .type = o->type, .mode = o->mode, .ref = (uint32_t)*j + 1, .size = o->size,
					.mtime_ns = o->mtime_ns, .path = (char *)op };
		memcpy(e.hash, o->hash, INDEX_HASH_LEN);
		if (add_manifest(d, &e) < 0)
			return -1;
	}
	return 0;
}

/* SYNC_HINT: the source names a large file it found changed and is
 * about to hash.  Its signature is made now, while the source hashes
 * (otherwise the two run one after the other); used if the plan asks for
 * the file and the old version is still the one it was made from. */
static int take_hint(struct dest *d, struct rd *body)
{
	char *path = NULL;
	struct stat st;
	if (sync_drop_decode(body, &path) < 0 || path_check_rel(path, strlen(path)) < 0) {
		free(path);
		proto_error(d, "malformed sync hint");
		return -1;
	}
	int fd = -1;
	struct hint h = { .path = path };
	const char *rest;
	int base = at(d, path, &rest);
	if (d->nhints < SIG_HINT_MAX && !(d->s->flags & SYNC_DRY_RUN) &&
	    (fd = open_beneath(base, rest, O_RDONLY | O_NONBLOCK, 0)) >= 0 && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode) && (uint64_t)st.st_size >= DELTA_MIN_SIZE) {
		struct delta_geom g = { .bs = delta_block_size((uint64_t)st.st_size), .old_size = (uint64_t)st.st_size };
		size_t bytes = (size_t)delta_nblocks(&g) * DELTA_SUM_LEN;
		apply_stat_from(&h.st, &st);
		if (g.bs && bytes <= d->sig_budget && delta_sig_compute(fd, h.st.size, &h.sig) == 0) {
			d->sig_budget -= bytes;
			d->hints = xrealloc(d->hints, (d->nhints + 1) * sizeof(*d->hints));
			d->hints[d->nhints++] = h;
			path = NULL;
		}
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return 0;
}

/* The signature made ahead for path, if the file still has the stat it
 * was made from (old); NULL otherwise. */
static struct hint *find_hint(struct dest *d, const char *path, const struct apply_stat *old)
{
	for (size_t k = 0; k < d->nhints; k++)
		if (d->hints[k].path && strcmp(d->hints[k].path, path) == 0)
			return apply_stat_same(&d->hints[k].st, old) ? &d->hints[k] : NULL;
	return NULL;
}

/* A SYNC_KEEP: in walk order, at most SYNC_KEEP_MAX.  0 or -1. */
static int take_keep(struct dest *d, struct rd *body)
{
	char *path;
	if (sync_keep_decode(body, &path) < 0) {
		proto_error(d, "malformed sync keep");
		return -1;
	}
	if (d->nkeep >= SYNC_KEEP_MAX || (d->nkeep && path_cmp(d->keep[d->nkeep - 1], path) >= 0)) {
		proto_error(d, "sync keep '%s' out of order, repeated or one too many", path);
		free(path);
		return -1;
	}
	if ((d->nkeep & (d->nkeep - 1)) == 0)
		d->keep = xrealloc(d->keep, (d->nkeep ? d->nkeep * 2 : 1) * sizeof(*d->keep));
	d->keep[d->nkeep++] = path;
	return 0;
}

/* Reads the source's manifest: every entry, or (changes_only) the
 * entries that changed since the base (ENTRY, replacing the index's
 * entry of that path or new) and the base's paths that are gone (DROP),
 * in one walk order, merged here with the index. */
static int read_manifest(struct dest *d, bool changes_only)
{
	size_t j = 0;
	char *prev = NULL;
	int ret = -1;
	/* Changes only: about as many entries as the base has, so no
	 * doubling and copying while they come in. */
	if (changes_only && d->cap < d->old.n + 64) {
		d->cap = d->old.n + 64;
		d->e = xrealloc(d->e, d->cap * sizeof(*d->e));
	}
	/* A batch being read (SYNC_ENTRIES_Z): its frames come first. */
	uint8_t *bat = NULL;
	struct rd br;
	for (;;) {
		uint16_t type;
		struct rd body;
		if (bat) {
			int k = sync_batch_next(&br, &type, &body);
			if (k < 0) {
				proto_error(d, "malformed frame in a compressed manifest");
				goto out;
			}
			if (k > 0 && type == MSG_SYNC_DROP && !changes_only) {
				proto_error(d, "a sync drop in a full manifest");
				goto out;
			}
			if (k == 0) {
				free(bat);
				bat = NULL;
				continue;
			}
		} else {
			if (!next_frame(d, &type, &body))
				goto out;
			if (type == MSG_SYNC_ENTRIES_Z) {
				size_t n = rd_left(&body), len;
				if (n == 0 || sync_batch_unpack(rd_bytes(&body, n), n, &bat, &len) < 0) {
					proto_error(d, "malformed compressed manifest");
					goto out;
				}
				rd_init(&br, bat, len);
				continue;
			}
		}
		if (type == MSG_SYNC_ENTRIES_END) {
			ret = changes_only ? take_old(d, &j, NULL) : 0;
			goto out;
		}
		if (type == MSG_SYNC_HINT) {
			/* Before the first entry only: the source sends them
			 * while it hashes, ahead of its manifest. */
			if (d->n || prev) {
				proto_error(d, "a sync hint after the manifest began");
				goto out;
			}
			if (take_hint(d, &body) < 0)
				goto out;
			continue;
		}
		if (type == MSG_SYNC_KEEP && !d->s->pull_side) {
			if (take_keep(d, &body) < 0)
				goto out;
			continue;
		}
		if (type != MSG_SYNC_ENTRY && !(type == MSG_SYNC_DROP && changes_only)) {
			if (d->s->other(d->s->arg, type, &body) < 0)
				goto out;
			continue;
		}
		struct sync_entry e = { 0 };
		char *drop = NULL;
		if (type == MSG_SYNC_ENTRY ? sync_entry_decode(&body, &e) < 0 : sync_drop_decode(&body, &drop) < 0) {
			proto_error(d, "malformed sync %s", type == MSG_SYNC_ENTRY ? "entry" : "drop");
			goto out;
		}
		const char *path = drop ? drop : e.path;
		if (changes_only) {
			bool ok = prev == NULL || path_cmp(prev, path) < 0;
			if (!ok)
				proto_error(d, "sync entry '%s' out of order or repeated", path);
			else
				ok = take_old(d, &j, path) == 0;
			if (ok) {
				bool known = j < d->old.n && strcmp(index_path(&d->old, &d->old.e[j]), path) == 0;
				if (known)
					e.ref = (uint32_t)j++ + 1;	/* replaced or dropped */
				else if (drop)
					proto_error(d, "'%s' dropped from a changes-only manifest, but the base has no such path",
						    drop);
				ok = known || !drop;
			}
			free(prev);
			prev = xstrdup(path);
			if (!ok) {
				sync_entry_release(&e);
				free(drop);
				goto out;
			}
		}
		free(drop);
		if (type == MSG_SYNC_ENTRY && add_manifest(d, &e) < 0)
			goto out;
	}
out:
	free(bat);
	free(prev);
	return ret;
}

/* A pull: the source's SYNC_BASE, ahead of its manifest (its scan
 * warnings may come first).  Changes only is believed only of the base
 * this side sent (its id is of d->old: the caller's preloaded index),
 * with no interrupted sync since. */
static int told_base(struct dest *d, bool can_be_base, bool *incr)
{
	for (;;) {
		uint16_t type;
		struct rd body;
		if (!next_frame(d, &type, &body))
			return -1;
		if (type != MSG_SYNC_BASE) {
			if (d->s->other(d->s->arg, type, &body) < 0)
				return -1;
			continue;
		}
		bool match;
		if (sync_base_decode(&body, &match) < 0) {
			proto_error(d, "malformed sync base");
			return -1;
		}
		if (match && !can_be_base) {
			proto_error(d, "a changes-only manifest against a base this side does not have");
			return -1;
		}
		*incr = match;
		return 0;
	}
}

static void set_meta(struct dest *d, size_t i)
{
	const struct sync_entry *e = &d->e[i];
	struct stat st;
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)(e->mtime_ns / 1000000000u), .tv_nsec = (long)(e->mtime_ns % 1000000000u) },
	};
	const char *rest;
	int base = at(d, e->path, &rest);
	if (rest[0] == '\0') {
		/* A followed pull folder: the user's, its mode left alone. */
		if (fstat(base, &st) == 0) {
			apply_stat_from(&d->seen[i].st, &st);
			d->seen[i].have = true;
		}
		return;
	}
	int fd = open_beneath(base, rest, e->type == ENT_DIR ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return;
	(void)fchmod(fd, mode_here(e->type, e->mode));
	if (e->type == ENT_FILE)
		(void)futimens(fd, ts);
	if (fstat(fd, &st) == 0) {
		apply_stat_from(&d->seen[i].st, &st);
		d->seen[i].have = true;
	}
	close(fd);
}

/* The folders above path.  Files come in walk order, so siblings share
 * them: the last folder made (or found) is remembered, and the next file
 * in it costs nothing here (apply_mkdirs opens and makes each component:
 * ~10 syscalls a file on an initial push).  Should the folder vanish or
 * turn into a symlink meanwhile, writing beneath the root fails safely. */
static void parent_dirs(struct dest *d, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return;
	size_t n = (size_t)(slash - path);
	if (d->made && strlen(d->made) == n && strncmp(d->made, path, n) == 0)
		return;
	free(d->made);
	d->made = xstrndup(path, n);
	const char *rest;
	int base = at(d, d->made, &rest);
	if (apply_mkdirs(base, rest, 0755) < 0) {
		free(d->made);
		d->made = NULL;
	}
}

static void fail_entry(struct dest *d, size_t i, int err)
{
	d->act[i] = ACT_FAILED;
	d->done.errors++;
	if (err == -ENOSPC || err == -EDQUOT)
		report(d, MSG_SYNC_ERROR, (uint32_t)-err, d->e[i].path, "disk full");
	else if (err == -EBADMSG)
		report(d, MSG_SYNC_ERROR, (uint32_t)-err, d->e[i].path, "changed while it was being sent; %s again",
		       d->s->verb);
	else
		report(d, MSG_SYNC_ERROR, (uint32_t)-err, d->e[i].path, "%s", strerror(-err));
}

/* Records a placed file at once: if we are killed before the index is
 * saved, the next sync still knows ferry put it there. */
static void journal(struct dest *d, const struct sync_entry *e, const struct apply_stat *placed)
{
	/* The stat of the file as placed (taken on its fd before the rename):
	 * an edit made there a moment later must not be recorded as ours. */
	struct index_entry x = { .type = e->type, .mode = mode_indexed(e, placed->mode), .size = placed->size,
				 .mtime_ns = placed->mtime_ns, .ino = placed->ino };
	struct buf b;
	memcpy(x.hash, e->hash, INDEX_HASH_LEN);
	buf_init(&b, PATH_REL_MAX + 128);
	if (d->journal >= 0 && index_journal_record(&b, e->path, &x) == 0)
		(void)write_all(d->journal, b.data, b.len);
	buf_release(&b);
}

static int write_out(void *arg, const void *p, size_t n)
{
	return apply_write(arg, p, n);
}

/* The file being received. */
struct incoming {
	struct apply_file f;
	ssize_t seq;		/* -1: between files */
	int err;		/* the first error; later data is checked, not written */
	int oldfd;		/* the old version, for a delta */
};

/* FILE: start the temp file, and for a delta open the old version, which
 * must still be the one the signature describes. */
static int file_start(struct dest *d, struct incoming *in, struct rd *body)
{
	uint32_t seq = rd_u32(body);
	rd_expect_end(body);
	if (!rd_ok(body) || seq >= d->n || d->act[seq] != ACT_NEED) {
		proto_error(d, "file %u was not asked for", seq);
		return -1;
	}
	in->seq = seq;
	parent_dirs(d, d->e[seq].path);
	const char *rest;
	int base = at(d, d->e[seq].path, &rest);
	in->err = rest[0] ? apply_begin(&in->f, base, rest) : -EISDIR;
	if (in->err == 0 && d->sigbs[seq]) {
		struct stat st;
		struct apply_stat now;
		in->oldfd = open_beneath(base, rest, O_RDONLY | O_NONBLOCK, 0);
		if (in->oldfd < 0 || fstat(in->oldfd, &st) < 0 ||
		    (apply_stat_from(&now, &st), !apply_stat_same(&now, &d->seen[seq].st)))
			in->err = -ESTALE;
	}
	return 0;
}

/* DATA, DELTA and their compressed forms. */
static int file_data(struct dest *d, struct incoming *in, uint16_t type, struct rd *body)
{
	const struct sync_entry *e = &d->e[in->seq];
	struct rd plain;
	size_t n = rd_left(body);
	const uint8_t *p = rd_bytes(body, n);
	uint64_t produced = n;
	if (type == MSG_SYNC_DATA_Z || type == MSG_SYNC_DELTA_Z) {
		if (zunpack_chunk(&d->zu, p, n, &p, &n) < 0) {
			proto_error(d, "malformed compressed data for '%s'", e->path);
			return -1;
		}
		produced = n;
	}
	if (type == MSG_SYNC_DATA || type == MSG_SYNC_DATA_Z) {
		if (in->err == 0 && in->f.written + n > e->size)
			in->err = -EBADMSG;
		if (in->err == 0)
			in->err = apply_write(&in->f, p, n);
	} else {
		if (d->sigbs[in->seq] == 0) {
			proto_error(d, "a delta for '%s', which has no signature", e->path);
			return -1;
		}
		if (n > DELTA_FRAME_MAX) {
			proto_error(d, "an oversize delta frame for '%s'", e->path);
			return -1;
		}
		struct delta_geom g = { .bs = d->sigbs[in->seq], .old_size = d->seen[in->seq].st.size };
		rd_init(&plain, p, n);
		int r = delta_apply(&plain, &g, in->oldfd, e->size - in->f.written, in->err ? NULL : write_out,
				    &in->f, &produced);
		if (r == -EPROTO) {
			proto_error(d, "malformed delta for '%s' (a block outside its old version?)", e->path);
			return -1;
		}
		if (in->err == 0)
			in->err = r;
	}
	if (d->s->progress)
		d->s->progress(d->s->arg, produced, false);
	return 0;
}

/* FILE_END: check, record, place. */
static void file_end(struct dest *d, struct incoming *in)
{
	size_t cur = (size_t)in->seq;
	const struct sync_entry *e = &d->e[cur];
	struct apply_stat placed;
	const char *rest;
	int err = in->err;
	bool big_old = d->s->keep_old && d->seen[cur].have && d->seen[cur].st.size >= DROP_DEFER_MIN;
	if (err == 0) {
		/* What we planned against must still be there. */
		apply_expect(&in->f, d->seen[cur].have, &d->seen[cur].st);
		err = apply_prepare(&in->f, e->hash, mode_here(e->type, e->mode), e->mtime_ns, false, &placed);
		/* Recorded before it appears: a kill right after the rename
		 * must not leave it unknown.  If the rename never happens, the
		 * index before this sync still vouches for what is there
		 * (d->prev). */
		if (err == 0) {
			journal(d, e, &placed);
			/* Held open, a large old version is freed later. */
			if (in->oldfd < 0 && big_old) {
				int base = at(d, e->path, &rest);
				in->oldfd = open_beneath(base, rest, O_RDONLY | O_NONBLOCK, 0);
			}
			err = apply_place(&in->f);
		}
	} else {
		apply_abort(&in->f);
	}
	if (err == -EEXIST || err == -ESTALE) {
		d->act[cur] = ACT_CONFLICT;
		d->done.conflicts++;
		report(d, MSG_SYNC_CONFLICT, 0, e->path, "changed on the %s during the %s: kept", d->s->here,
		       d->s->verb);
	} else if (err < 0) {
		fail_entry(d, cur, err);
	} else {
		d->act[cur] = ACT_DONE;
		d->done.written++;
		d->done.bytes += e->size;
		d->seen[cur].st = placed;
		d->seen[cur].have = true;
	}
	if (d->s->progress)
		d->s->progress(d->s->arg, 0, true);
	if (in->oldfd >= 0) {
		if (err == 0 && big_old)
			d->s->keep_old(d->s->later_arg, in->oldfd);
		else
			close(in->oldfd);
	}
	in->oldfd = -1;
	in->seq = -1;
	in->err = 0;
}

/* Receives the files, until SYNC_COMMIT. */
static int receive(struct dest *d)
{
	struct incoming in = { .f = { .dirfd = -1, .fd = -1 }, .seq = -1, .oldfd = -1 };

	for (;;) {
		uint16_t type;
		struct rd body;
		if (!next_frame(d, &type, &body))
			goto fail;
		if (type == MSG_SYNC_COMMIT && in.seq < 0)
			return 0;
		if (type == MSG_SYNC_FILE && in.seq < 0) {
			if (file_start(d, &in, &body) < 0)
				goto fail;
			continue;
		}
		if ((type == MSG_SYNC_DATA || type == MSG_SYNC_DATA_Z || type == MSG_SYNC_DELTA ||
		     type == MSG_SYNC_DELTA_Z) && in.seq >= 0) {
			if (file_data(d, &in, type, &body) < 0)
				goto fail;
			continue;
		}
		if (type == MSG_SYNC_FILE_END && in.seq >= 0) {
			file_end(d, &in);
			continue;
		}
		if (type == MSG_SYNC_ERROR || type == MSG_ERROR) {
			/* A notice from the source (a file it could not read), or
			 * its end. */
			if (d->s->other(d->s->arg, type, &body) < 0)
				goto fail;
			continue;
		}
		proto_error(d, "unexpected message 0x%04x during a %s", type, d->s->verb);
		goto fail;
	}
fail:
	apply_abort(&in.f);
	if (in.oldfd >= 0)
		close(in.oldfd);
	return -1;
}

static void apply_rest(struct dest *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sync_entry *e = &d->e[i];
		int r = 0;
		const char *rest;
		int base = at(d, e->path, &rest);
		switch (d->act[i]) {
		case ACT_MKDIR: {
			struct stat st;
			if (rest[0] && apply_lstat(base, rest, &st) == 0 && !S_ISDIR(st.st_mode) &&
			    apply_remove(base, rest, false, d->seen[i].have ? &d->seen[i].st : NULL) == -ESTALE) {
				d->act[i] = ACT_CONFLICT;
				d->done.conflicts++;
				report(d, MSG_SYNC_CONFLICT, 0, e->path, "changed on the %s during the %s: kept", d->s->here,
				       d->s->verb);
				continue;
			}
			parent_dirs(d, e->path);
			r = apply_mkdirs(base, rest, 0755);
			if (r == 0)
				set_meta(d, i);
			break;
		}
		case ACT_LINK:
			parent_dirs(d, e->path);
			r = rest[0] ? apply_symlink(base, rest, sync_entry_link(e)) : -EEXIST;
			break;
		case ACT_META:
			set_meta(d, i);
			break;
		default:
			continue;
		}
		if (r < 0)
			fail_entry(d, i, r);
		else if (d->act[i] == ACT_LINK)
			d->done.written++;	/* files and links are counted; folders not */
		if (r == 0)
			d->act[i] = ACT_DONE;
	}
	/* Deletes, deepest first so folders are empty when their turn comes. */
	for (size_t i = d->old.n; i-- > 0;) {
		if (d->del[i] != DEL_DELETE)
			continue;
		const struct index_entry *o = &d->old.e[i];
		const char *p = index_path(&d->old, o);
		const char *rest;
		int base = at(d, p, &rest);
		/* A followed pull folder stays, and so does its symlink. */
		int r = rest[0] == '\0' ? 0
			: apply_remove(base, rest, o->type == ENT_DIR, o->type == ENT_DIR ? NULL : &d->delst[i]);
		if (r == 0 && o->type != ENT_DIR) {
			d->done.deleted++;
		} else if (r == -ESTALE) {
			d->del[i] = DEL_CONFLICT;
			d->done.conflicts++;
			report(d, MSG_SYNC_CONFLICT, 0, p, "changed on the %s during the %s: not deleted", d->s->here,
			       d->s->verb);
		} else if (r < 0 && o->type == ENT_DIR) {
			d->del[i] = DEL_CONFLICT;	/* holds files ferry did not put there: kept */
		}
	}
}

/* Where build_index puts the new index's entries, in walk order: a whole
 * index (nx), or the records of a log group against the index on disk
 * (sync-index.h), without building the copy: a push that changed one
 * file of 100k writes one record and copies no entry.  The log form
 * needs disk to be d->old: each entry knows its old one. */
struct ix_sink {
	struct index *nx;
	const struct index *disk;	/* nx NULL: the log group's base */
	struct buf recs;
	uint32_t nrec;
	bool full;			/* too many records: rewrite instead */
};

#define NO_OLD SIZE_MAX

static void log_rec(struct ix_sink *k, const char *path, const struct index_entry *x)
{
	if (k->full)
		return;
	if (index_log_put(&k->recs, path, x) < 0 || k->recs.len > INDEX_FILE_MAX / 2)
		k->full = true;
	k->nrec++;
}

/* src as path's entry, oj the old entry of path (NO_OLD: none); with
 * rootfd, its stat taken now (a file whose stat as placed is unknown). */
static void add_entry(struct ix_sink *k, const char *path, const struct index_entry *src, const struct dest *d,
		      size_t oj)
{
	struct index_entry x = *src;
	struct stat st;
	if (d && d_lstat(d, path, &st) == 0) {
		x.size = (uint64_t)st.st_size;
		x.mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
		x.ino = (uint64_t)st.st_ino;
		if (x.type == ENT_LINK)
			x.mode = st.st_mode & 07777;
	}
	if (k->nx) {
		int err;
		struct index_entry *n = index_append(k->nx, path, &err);
		if (n) {
			x.path_off = n->path_off;
			*n = x;
		}
	} else if (oj == NO_OLD || index_entry_differs(k->disk, &k->disk->e[oj], &x)) {
		log_rec(k, path, &x);
	}
}

/* Old entry oj is not in the new index. */
static void drop_entry(struct ix_sink *k, const char *path)
{
	if (k->nx == NULL)
		log_rec(k, path, NULL);
}

/* The new index: what ferry left here, merged in walk order (the refs
 * pair a manifest entry with its old one; only a new path is compared). */
static void build_index(struct dest *d, struct ix_sink *k)
{
	size_t i = 0, j = 0;
	while (i < d->n || j < d->old.n) {
		const char *op = j < d->old.n ? index_path(&d->old, &d->old.e[j]) : NULL;
		int c = i >= d->n ? 1 : op == NULL ? -1 : d->e[i].ref ? (d->e[i].ref - 1 == j ? 0 : 1)
			: path_cmp(d->e[i].path, op);
		if (c <= 0) {
			const struct sync_entry *e = &d->e[i];
			uint8_t a = d->act[i];
			size_t oj = c == 0 ? j : NO_OLD;
			if ((a == ACT_NONE || a == ACT_DONE) && d->seen[i].have) {
				/* Untouched (the planning stat) or written (the stat as
				 * placed): never a stat taken after someone else may
				 * have edited the file. */
				const struct apply_stat *a_st = &d->seen[i].st;
				struct index_entry x = { .type = e->type, .mode = mode_indexed(e, a_st->mode),
							 .size = a_st->size, .mtime_ns = a_st->mtime_ns, .ino = a_st->ino };
				memcpy(x.hash, e->hash, INDEX_HASH_LEN);
				add_entry(k, e->path, &x, NULL, oj);
			} else if (a == ACT_DONE || a == ACT_NONE) {
				struct index_entry x = { .type = e->type, .mode = e->mode, .size = e->size,
							 .mtime_ns = e->mtime_ns };
				memcpy(x.hash, e->hash, INDEX_HASH_LEN);
				add_entry(k, e->path, &x, d, oj);
			} else if (c == 0) {
				/* Conflict or failure: what ferry knew stays. */
				add_entry(k, op, &d->old.e[j], NULL, j);
			}
			i++;
			if (c == 0)
				j++;
		} else {
			if (d->del[j] != DEL_DELETE && d->del[j] != DEL_FORGET)
				add_entry(k, op, &d->old.e[j], NULL, j);
			else
				drop_entry(k, op);
			j++;
		}
	}
}

/* Saves what this sync left as the index.  The common case (the index on
 * disk is d->old: no journal) goes straight to a log group of what
 * differs; a rewrite builds the whole new index.  0 or -errno. */
static int save_index(struct dest *d, bool had_journal)
{
	const struct dest_side *side = d->s;
	bool durable = side->sync_later == NULL, wrote = true;
	int r = 1;
	if (!had_journal && d->old.gen) {
		struct ix_sink k = { .disk = &d->old };
		buf_init(&k.recs, INDEX_FILE_MAX);
		build_index(d, &k);
		trace_phase("dest index diffed");
		wrote = k.nrec > 0;
		r = k.full ? 1 : !wrote ? 0 : index_log_commit(side->ixfile, &d->old, &k.recs, k.nrec, durable);
		buf_release(&k.recs);
	}
	if (r == 1) {
		/* A journal to fold in (a few changes against the index
		 * before it still go to the log: index_commit), a first
		 * index, or a log grown too large: the whole new index. */
		struct index nx;
		index_init(&nx);
		index_reserve(&nx, d->n + d->old.n, d->old.paths.len + d->n * 64);
		struct ix_sink k = { .nx = &nx };
		build_index(d, &k);
		trace_phase("dest index built");
		wrote = true;
		r = had_journal ? index_commit(side->ixfile, &d->prev, &nx, durable) : index_save(side->ixfile, &nx);
		index_release(&nx);
	}
	if (r == 0 && wrote && side->sync_later)
		side->sync_later(side->later_arg, side->ixfile);
	return r;
}

bool dest_guard_trips(const struct sync_plan_end *pe)
{
	return pe->deletes > SYNC_GUARD_MIN && (uint64_t)pe->deletes * 2 > pe->indexed;
}

/* The index (and the journal of an interrupted sync), the answer to the
 * source's base, the temp files swept.  *had_journal, *incr: the
 * manifest holds only changes.  0, or -1 (the link lost). */
static int dest_load(struct dest *d, bool *had_journal, bool *incr)
{
	const struct dest_side *side = d->s;
	bool dry = side->flags & SYNC_DRY_RUN;
	bool preloaded = side->preloaded != NULL;
	if (preloaded) {
		d->old = *side->preloaded;
		index_init(side->preloaded);
	} else if (index_load(side->ixfile, &d->old) == -EBADMSG) {
		index_init(&d->old);	/* unreadable: as if first sync, conflicts protect */
	}
	/* What an interrupted sync placed but did not get to record. */
	char *jdata;
	size_t jlen;
	*had_journal = false;
	if (read_file(side->jfile, INDEX_FILE_MAX, &jdata, &jlen) == 0) {
		*had_journal = true;
		if (index_load(side->ixfile, &d->prev) < 0) {
			index_release(&d->prev);
			index_init(&d->prev);
		}
		(void)index_journal_merge(&d->old, jdata, jlen);
		free(jdata);
	}
	/* The source's base is what this index was made from (and no sync
	 * was interrupted since): it sends only what changed.  Answered at
	 * once: the source waits for it, its walk done meanwhile. */
	*incr = false;
	if (side->base_id) {
		uint8_t id[INDEX_HASH_LEN];
		index_state_id(&d->old, id);
		*incr = !*had_journal && d->old.n && memcmp(id, side->base_id, INDEX_HASH_LEN) == 0;
		uint8_t m = *incr;
		conn_queue(d->c, MSG_SYNC_BASE, &m, 1);
		if (conn_flush(d->c) < 0) {
			d->lost = true;
			return -1;
		}
	}
	if (!dry)
		d->journal = open(side->jfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	/* Stray temp files exist only where a sync did not finish, and every
	 * sync creates the journal before its first temp file and removes it
	 * at its end: no journal, nothing to sweep (a no-op push of 1,000
	 * folders saves 1,000 directory reads).  Without a journal of our
	 * own we cannot tell the next sync, so we sweep. */
	d->sweep = !dry && (*had_journal || d->journal < 0);
	if (d->sweep)
		(void)apply_sweep(d->rootfd, "");
	trace_phase("dest index loaded, swept");
	return 0;
}

/* Each entry against the index and the disk: NEED (with a signature),
 * conflicts, then deletions; the plan's counts in *pe.  0 or -1. */
static int dest_plan(struct dest *d, bool incr, struct sync_plan_end *pe)
{
	const struct dest_side *side = d->s;
	bool dry = side->flags & SYNC_DRY_RUN;
	d->act = xcalloc(d->n + 1, 1);
	d->seen = xcalloc(d->n + 1, sizeof(*d->seen));
	d->sigbs = xcalloc(d->n + 1, sizeof(*d->sigbs));
	size_t oj = 0;
	for (size_t i = 0; i < d->n; i++) {
		/* A changes-only manifest came with each entry's index entry
		 * (ref); a full one shares the index's order: a cursor, and
		 * the refs set for the passes after (deletes, the new index). */
		if (!incr) {
			while (oj < d->old.n && path_cmp(index_path(&d->old, &d->old.e[oj]), d->e[i].path) < 0)
				oj++;
			if (oj < d->old.n && strcmp(index_path(&d->old, &d->old.e[oj]), d->e[i].path) == 0)
				d->e[i].ref = (uint32_t)oj + 1;
		}
		const struct index_entry *o = d->e[i].ref ? &d->old.e[d->e[i].ref - 1] : NULL;
		plan_one(d, i, o, o && d->pre ? &d->pre[o - d->old.e] : NULL);
		d->same += as_indexed(d, i, o);
		if (d->e[i].type == ENT_DIR && (d->act[i] == ACT_NONE || d->act[i] == ACT_META) && d->sweep)
		{
			const char *rest;
			int base = at(d, d->e[i].path, &rest);
			(void)apply_sweep(base, rest);
		}
		if (d->act[i] == ACT_NEED) {
			uint8_t seq[4];
			be32_put(seq, (uint32_t)i);
			conn_queue(d->c, MSG_SYNC_NEED, seq, 4);
			if (side->need)
				side->need(side->arg, &d->e[i]);
			if (!dry && send_sig(d, i) < 0)
				return -1;
		}
		if (d->c->out.len > CONN_OUT_HIGH && conn_flush(d->c) < 0) {
			d->lost = true;
			return -1;
		}
	}
	trace_phase("dest planned");
	plan_deletes(d, &pe->deletes);
	trace_phase("dest deletes planned");
	pe->conflicts = d->done.conflicts;
	for (size_t i = 0; i < d->n; i++)
		pe->need += d->act[i] == ACT_NEED || d->act[i] == ACT_LINK;	/* files and links, as everywhere */
	for (size_t i = 0; i < d->old.n; i++)
		pe->indexed += d->old.e[i].type != ENT_DIR;
	pe->guard = dest_guard_trips(pe);
	return 0;
}

static void dest_release(struct dest *d)
{
	for (size_t i = 0; i < d->n; i++)
		entry_release(d, &d->e[i]);
	free(d->e);
	free(d->act);
	free(d->seen);
	free(d->sigbs);
	for (size_t k = 0; k < d->nhints; k++) {
		free(d->hints[k].path);
		delta_sig_release(&d->hints[k].sig);
	}
	free(d->hints);
	free(d->pre);
	free(d->made);
	zunpack_release(&d->zu);
	free(d->del);
	free(d->delst);
	for (size_t k = 0; k < d->nkeep; k++)
		free(d->keep[k]);
	free(d->keep);
	index_release(&d->old);
	index_release(&d->prev);
	if (d->journal >= 0)
		close(d->journal);
	while (d->nds)
		close(d->ds[--d->nds]);
}

int dest_run(const struct dest_side *side, struct sync_plan_end *pe, struct sync_done *done, bool *lost)
{
	struct dest d = { .s = side, .c = side->c, .rootfd = side->rootfd, .journal = -1,
			  .redir = side->pull_side ? side->redir : NULL,
			  .sig_budget = DELTA_SIG_TOTAL_MAX };
	bool dry = side->flags & SYNC_DRY_RUN, force = side->flags & SYNC_FORCE;
	bool had_journal, incr;
	struct buf b;
	int ret = -1;

	memset(pe, 0, sizeof(*pe));
	trace_phase("dest start");
	/* Only a pull folder that is a symlink costs anything (sync-dest.h). */
	for (uint32_t i = 0; d.redir && i < side->nredir; i++)
		if (side->redir[i].fd >= 0 || side->redir[i].why)
			d.nredir = side->nredir;
	buf_init(&b, FRAME_MAX);
	index_init(&d.old);
	index_init(&d.prev);
	zunpack_init(&d.zu);
	bool preloaded = side->preloaded != NULL;
	if (dest_load(&d, &had_journal, &incr) < 0)
		goto out;
	/* A pull whose base we sent: the lstat below runs while the source
	 * walks, and its answer comes with the manifest. */
	bool maybe_told = side->base_sent && preloaded && !had_journal && d.old.n;
	/* The source is still walking its tree: walk ours meanwhile. */
	if (incr || maybe_told) {
		d.pre = xcalloc(d.old.n, sizeof(*d.pre));
		for (size_t j = 0; j < d.old.n; j++) {
			struct stat st;
			if (j % PING_CHECK_EVERY == 0)
				answer_pings(&d);
			d.pre[j].err = dest_lstat(&d, index_path(&d.old, &d.old.e[j]), &st);
			if (d.pre[j].err == 0)
				apply_stat_from(&d.pre[j].st, &st);
		}
		trace_phase("dest index lstat'ed");
	}
	if (side->base_sent && told_base(&d, maybe_told, &incr) < 0)
		goto out;
	if (!incr) {
		free(d.pre);
		d.pre = NULL;
	}
	if (side->changes_only)
		*side->changes_only = incr;
	if (read_manifest(&d, incr) < 0)
		goto out;
	trace_phase("dest manifest read");
	if (dest_plan(&d, incr, pe) < 0)
		goto out;
	sync_plan_end_encode(pe, &b);
	conn_queue(d.c, MSG_SYNC_PLAN_END, b.data, b.len);
	if (conn_flush(d.c) < 0) {
		d.lost = true;
		goto out;
	}
	if (dry || (pe->guard && !force)) {
		/* The source stops here too: it got the same plan. */
		ret = 0;
		goto out;
	}
	if (receive(&d) < 0)
		goto out;
	apply_rest(&d);

	trace_phase("dest received");
	/* Nothing changed and no journal to fold in: the index on disk is
	 * already the new one.  Every entry as indexed, as many as the index
	 * holds: nothing was written or deleted, and no copy is built. */
	int r = 0;
	if (had_journal || d.same != d.n || d.n != d.old.n)
		r = save_index(&d, had_journal);
	trace_phase("dest index saved");
	if (r == 0)
		unlink(side->jfile);	/* everything in it is in the index now */
	if (r < 0) {
		d.done.errors++;
		/* Named: the user must find the full disk (the state folder
		 * is not the project's), and "while writing ''" found nothing. */
		report(&d, MSG_SYNC_ERROR, (uint32_t)-r, side->ixfile, "%s",
		       r == -ENOSPC || r == -EDQUOT ? "disk full: the sync index was not saved"
						   : "the sync index was not saved");
	}
	ret = 0;
out:
	*done = d.done;
	if (lost)
		*lost = d.lost;
	dest_release(&d);
	buf_release(&b);
	return ret;
}
