/*
 * job-harvest.c - a running job's outputs leave its snapshot
 * (job-harvest.h).
 *
 * A job runs in a snapshot of the pushed code (job-snap.c), but what it
 * writes there - outputs/, wandb/, a log at the top, train.bin beside
 * prepare.py - belongs to the project, not to that code version: a later
 * job of edited code, TensorBoard and `ferry pull` look for it in the
 * live project folder, and `jobs rm` must never take it with the
 * snapshot.  So the supervisor watches the snapshot's folders (inotify,
 * up to JOB_HARVEST_WATCHES of them) and moves each new entry into the
 * live project at once (snap_take: a file gets a second hard link there,
 * a folder moves and leaves a symlink): the job keeps its open files and
 * its paths, and the output is where people look while the job runs.  When the job ends, a sweep moves whatever the
 * watches missed (folders past the limit, a full event queue).
 *
 * A folder moves JOB_HARVEST_DIR_DELAY_MS after it appears, not at once:
 * the tool that made it may still be walking into it by a path that must
 * not be a symlink (`mkdir -p a/b` opens `a` with O_NOFOLLOW).  A file
 * gets its second link at once: its name stays a file.
 *
 * A file the job moved out of a code folder and then deletes (a rotated
 * checkpoint) is deleted in the live project too, if it is still the
 * file that moved; a folder is never deleted that way.
 */
#define _GNU_SOURCE
#include "job-harvest.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "sync-apply.h"
#include "util.h"

#include "banned.h"

#define HARVEST_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define HARVEST_KEPT_MAX 20	/* paths named in the log when outputs stay in the snapshot */

static uint32_t hash_rel(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The live entry for rel (a file, or with link one of ferry's links), or
 * NULL. */
static struct harvest_file *find_entry(const struct harvest *h, const char *rel, bool link)
{
	if (h->nslots == 0)
		return NULL;
	for (size_t k = hash_rel(rel) & (h->nslots - 1);; k = (k + 1) & (h->nslots - 1)) {
		uint32_t v = h->slot[k];
		if (v == 0)
			return NULL;
		struct harvest_file *f = &h->files[v - 1];
		if (f->rel && f->link == link && strcmp(f->rel, rel) == 0)
			return f;
	}
}

static struct harvest_file *find_file(const struct harvest *h, const char *rel)
{
	return find_entry(h, rel, false);
}

static void add_entry(struct harvest *h, const char *rel, const struct stat *st, bool link)
{
	if (h->nfiles >= JOB_HARVEST_FILES)
		return;
	if (h->nslots == 0) {
		h->nslots = 2 * (size_t)JOB_HARVEST_FILES;	/* never more than half full */
		h->slot = xcalloc(h->nslots, sizeof(uint32_t));
	}
	if (h->nfiles == h->capfiles) {
		h->capfiles = h->capfiles ? 2 * h->capfiles : 64;
		h->files = xrealloc(h->files, h->capfiles * sizeof(*h->files));
	}
	h->files[h->nfiles] = (struct harvest_file){ xstrdup(rel), st ? st->st_dev : 0, st ? st->st_ino : 0, link };
	size_t k = hash_rel(rel) & (h->nslots - 1);
	while (h->slot[k])
		k = (k + 1) & (h->nslots - 1);
	h->slot[k] = (uint32_t)++h->nfiles;
}

static void on_moved(void *arg, const char *rel, const struct stat *st)
{
	struct harvest *h = arg;
	struct harvest_file *f = find_file(h, rel);
	if (h->listfd >= 0 && f == NULL && h->listed + strlen(rel) + 1 <= JOB_OUTPUTS_MAX) {
		char *line = xasprintf("%s\n", rel);
		if (write_all(h->listfd, line, strlen(line)) == 0)
			h->listed += strlen(line);
		free(line);
	}
	/* Files are remembered, so that the job's own deletion of one
	 * reaches the live copy. */
	if (!S_ISREG(st->st_mode))
		return;
	if (f) {
		f->dev = st->st_dev;
		f->ino = st->st_ino;
	} else {
		add_entry(h, rel, st, false);
	}
}

static void on_kept(void *arg, const char *rel, const char *why)
{
	struct harvest *h = arg;
	size_t rl = strlen(rel);
	for (size_t i = 0; i < h->nkept; i++)
		if (strncmp(h->kept[i], rel, rl) == 0 && strncmp(h->kept[i] + rl, " (", 2) == 0)
			return;
	if (h->nkept < HARVEST_KEPT_MAX) {
		h->kept = xrealloc(h->kept, (h->nkept + 2) * sizeof(char *));
		h->kept[h->nkept++] = xasprintf("%s (%s)", rel, why);
		h->kept[h->nkept] = NULL;
	}
}

/* ferry's links in the snapshot (to the live path of their own name). */
static void link_add(struct harvest *h, const char *rel)
{
	if (find_entry(h, rel, true) == NULL)
		add_entry(h, rel, NULL, true);
}

static void link_del(struct harvest *h, const char *rel)
{
	struct harvest_file *f = find_entry(h, rel, true);
	if (f) {
		free(f->rel);
		f->rel = NULL;
	}
}

static void on_linked(void *arg, const char *rel)
{
	link_add(arg, rel);
}

/* The links there already when the job starts (live-only names linked
 * through, folders an earlier job of this code moved out). */
static void find_links(struct harvest *h, const char *rel)
{
	int fd = rel[0] ? open_beneath(h->snapfd, rel, O_RDONLY | O_DIRECTORY, 0) : fcntl(h->snapfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);	/* a dup: its position is shared */
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		char t[PATH_REL_MAX + 4096];
		ssize_t n = readlinkat(dirfd(d), de->d_name, t, sizeof(t) - 1);
		if (n <= 0)
			continue;
		t[n] = '\0';
		char *r = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		char *want = xasprintf("%s/%s", h->root, r);
		if (strcmp(t, want) == 0)
			link_add(h, r);
		free(want);
		free(r);
	}
	closedir(d);
}

/* The job renamed ferry's link at from to to (in the snapshot): the same
 * rename in the live project, so what the link showed has the job's new
 * name there too (a log rotated: app.log to app.log.1); the link at to,
 * if it is still there, is made to name it.  Never over a live folder
 * with something in it, nor over a file the job did not write. */
static void live_rename(struct harvest *h, const char *from, const char *to)
{
	const char *fs = strrchr(from, '/'), *ts = strrchr(to, '/');
	char *fdir = fs ? xstrndup(from, (size_t)(fs - from)) : xstrdup("");
	char *tdir = ts ? xstrndup(to, (size_t)(ts - to)) : xstrdup("");
	const char *fname = fs ? fs + 1 : from, *tname = ts ? ts + 1 : to;
	int fl = fdir[0] ? open_beneath(h->rootfd, fdir, O_RDONLY | O_DIRECTORY, 0) : fcntl(h->rootfd, F_DUPFD_CLOEXEC, 0);
	int tl = tdir[0] ? open_beneath(h->rootfd, tdir, O_RDONLY | O_DIRECTORY, 0) : fcntl(h->rootfd, F_DUPFD_CLOEXEC, 0);
	int tsd = tdir[0] ? open_beneath(h->snapfd, tdir, O_RDONLY | O_DIRECTORY, 0) : fcntl(h->snapfd, F_DUPFD_CLOEXEC, 0);
	struct stat st, ts_st;
	link_del(h, from);
	if (fl < 0 || tl < 0 || fstatat(fl, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto out;
	bool over = fstatat(tl, tname, &ts_st, AT_SYMLINK_NOFOLLOW) == 0;
	struct harvest_file *mine = over ? find_file(h, to) : NULL;
	if (over && !(S_ISREG(ts_st.st_mode) && mine && mine->ino == ts_st.st_ino && mine->dev == ts_st.st_dev) &&
	    !(S_ISDIR(st.st_mode) && S_ISDIR(ts_st.st_mode))) {
		on_kept(h, to, "the project folder has another entry at that path");
		goto out;
	}
	if (renameat(fl, fname, tl, tname) < 0) {
		on_kept(h, to, strerror(errno));
		goto out;
	}
	link_add(h, to);
	struct harvest_file *old = find_file(h, from);
	if (old && S_ISREG(st.st_mode)) {
		/* The file keeps being followed under its new name. */
		free(old->rel);
		old->rel = NULL;
		add_entry(h, to, &st, false);
	}
	/* The snapshot's link at to still names from: now to. */
	char *want = xasprintf("%s/%s", h->root, to), *was = xasprintf("%s/%s", h->root, from);
	char t[PATH_REL_MAX + 4096];
	ssize_t n = tsd >= 0 ? readlinkat(tsd, tname, t, sizeof(t) - 1) : -1;
	if (n > 0) {
		t[n] = '\0';
		struct stat lk;
		if (strcmp(t, was) == 0 && fstatat(tsd, tname, &lk, AT_SYMLINK_NOFOLLOW) == 0)
			(void)snap_link_over(tsd, tname, want, &lk);
	}
	free(want);
	free(was);
out:
	if (fl >= 0)
		close(fl);
	if (tl >= 0)
		close(tl);
	if (tsd >= 0)
		close(tsd);
	free(fdir);
	free(tdir);
}

/* The sweep's question: is the live file at rel one this job linked? */
static bool ours(void *arg, const char *rel, const struct stat *live)
{
	struct harvest_file *f = find_file(arg, rel);
	return f && f->ino == live->st_ino && f->dev == live->st_dev;
}

static void watch(struct harvest *h, const char *rel)
{
	if (h->nw >= JOB_HARVEST_WATCHES)
		return;
	char *p = rel[0] ? xasprintf("%s/%s", h->snap, rel) : xstrdup(h->snap);
	int wd = inotify_add_watch(h->ifd, p, HARVEST_MASK);
	free(p);
	if (wd < 0)
		return;
	h->w = xrealloc(h->w, (h->nw + 1) * sizeof(*h->w));
	h->w[h->nw].wd = wd;
	h->w[h->nw].rel = xstrdup(rel);
	h->nw++;
}

int harvest_start(struct harvest *h, const char *root, const char *snapdir, const char *snap, int jobdirfd)
{
	memset(h, 0, sizeof(*h));
	h->ifd = h->rootfd = h->snapfd = h->listfd = -1;
	h->root = xstrdup(root);
	h->snap = xstrdup(snapdir);
	/* The snapshot's code list sits beside it, wherever it was made. */
	const char *slash = strrchr(snapdir, '/');
	char *base = slash ? xstrndup(snapdir, (size_t)(slash - snapdir)) : xstrdup(".");
	int r = code_set_load(base, snap, &h->code);
	free(base);
	if (r < 0)
		return r;
	h->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	h->snapfd = open(snapdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (h->rootfd < 0 || h->snapfd < 0)
		return -errno;
	h->o = (struct snap_out){ .rootfd = h->rootfd, .snapfd = h->snapfd, .root = h->root, .code = &h->code,
				  .atomic_only = true, .moved = on_moved, .kept = on_kept, .ours = ours, .linked = on_linked,
				  .arg = h };
	if (jobdirfd >= 0)
		h->listfd = openat(jobdirfd, "outputs", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	h->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (h->ifd < 0)
		return -errno;
	/* The root first, then the code folders, shallowest first (the
	 * code list is sorted, so a folder comes before what is in it). */
	watch(h, "");
	find_links(h, "");
	for (size_t i = 0; i < h->code.n && h->nw < JOB_HARVEST_WATCHES; i++) {
		struct stat st;
		if (fstatat(h->snapfd, h->code.e[i].path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			watch(h, h->code.e[i].path);
			find_links(h, h->code.e[i].path);
		}
	}
	return 0;
}

int harvest_fd(const struct harvest *h)
{
	return h->ifd;
}

/* The job deleted rel in the snapshot: if it was a file linked out and
 * the live path still holds that very file, it goes there too.  (A
 * rename is not a deletion: snap_take follows it with the new name.) */
static void on_deleted(struct harvest *h, const char *rel)
{
	struct harvest_file *f = find_file(h, rel);
	struct stat st;
	if (f == NULL)
		return;
	if (fstatat(h->snapfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return;	/* made again meanwhile: its own events come */
	const char *slash = strrchr(rel, '/');
	char *dir = slash ? xstrndup(rel, (size_t)(slash - rel)) : NULL;
	int dfd = dir ? open_beneath(h->rootfd, dir, O_RDONLY | O_DIRECTORY, 0) : fcntl(h->rootfd, F_DUPFD_CLOEXEC, 0);
	const char *name = slash ? slash + 1 : rel;
	if (dfd >= 0 && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    st.st_ino == f->ino && st.st_dev == f->dev)
		unlinkat(dfd, name, 0);
	if (dfd >= 0)
		close(dfd);
	free(dir);
	free(f->rel);
	f->rel = NULL;	/* keeps its place: the hash still leads past it */
}

/* A folder the job made: moved once the moment has passed. */
static void later(struct harvest *h, const char *rel)
{
	for (size_t i = 0; i < h->nlater; i++)
		if (strcmp(h->later[i].rel, rel) == 0)
			return;
	if (h->nlater >= JOB_HARVEST_WATCHES) {
		(void)snap_take(&h->o, rel);	/* too many waiting: now */
		return;
	}
	h->later = xrealloc(h->later, (h->nlater + 1) * sizeof(*h->later));
	h->later[h->nlater].rel = xstrdup(rel);
	h->later[h->nlater].due = now_mono_ns() + JOB_HARVEST_DIR_DELAY_MS * 1000000ull;
	h->nlater++;
}

uint64_t harvest_due(const struct harvest *h)
{
	uint64_t due = 0;
	for (size_t i = 0; i < h->nlater; i++)
		if (due == 0 || h->later[i].due < due)
			due = h->later[i].due;
	return due;
}

void harvest_tick(struct harvest *h)
{
	uint64_t now = now_mono_ns();
	for (size_t i = h->nlater; i-- > 0;) {
		if (h->later[i].due > now)
			continue;
		(void)snap_take(&h->o, h->later[i].rel);
		free(h->later[i].rel);
		h->later[i] = h->later[--h->nlater];
	}
}

void harvest_events(struct harvest *h)
{
	char b[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false;
	ssize_t n;
	while (h->ifd >= 0 && (n = read(h->ifd, b, sizeof(b))) > 0) {
		/* A rename inside the snapshot is a MOVED_FROM and a MOVED_TO
		 * with one cookie, next to each other: the old name waits here
		 * for its new one.  One without the other (renamed out of or
		 * into the watched folders) is no rename to follow. */
		char *from = NULL;
		uint32_t cookie = 0;
		for (char *p = b; p < b + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			if (ev->len == 0 || (ev->mask & IN_IGNORED))
				continue;
			const char *dir = NULL;
			for (size_t i = 0; i < h->nw && !dir; i++)
				if (h->w[i].wd == ev->wd)
					dir = h->w[i].rel;
			if (dir == NULL || strncmp(ev->name, APPLY_TMP_PREFIX, strlen(APPLY_TMP_PREFIX)) == 0)
				continue;
			char *rel = dir[0] ? xasprintf("%s/%s", dir, ev->name) : xstrdup(ev->name);
			if (ev->mask & IN_MOVED_FROM) {
				free(from);
				from = rel;
				cookie = ev->cookie;
				continue;
			}
			bool paired = (ev->mask & IN_MOVED_TO) && from && ev->cookie == cookie;
			if (ev->mask & IN_DELETE) {
				on_deleted(h, rel);
				link_del(h, rel);
			} else if (paired && find_entry(h, from, true)) {
				live_rename(h, from, rel);
			} else if (ev->mask & IN_ISDIR) {
				later(h, rel);
			} else {
				h->o.fresh = true;
				h->o.renamed_from = paired ? from : NULL;
				(void)snap_take(&h->o, rel);
				h->o.fresh = false;
				h->o.renamed_from = NULL;
			}
			free(rel);
		}
		free(from);
	}
	if (overflow)
		(void)snap_sweep(&h->o);
}

void harvest_finish(struct harvest *h)
{
	if (h->snapfd < 0 || h->rootfd < 0)
		return;
	harvest_events(h);
	/* Other jobs may run in the same snapshot: atomic moves first; on
	 * a filesystem without them (NFS), plain ones, now that this job's
	 * own writes are over. */
	for (size_t i = 0; i < h->nlater; i++)
		free(h->later[i].rel);
	h->nlater = 0;	/* the sweep below takes them */
	free_words(h->kept);
	h->kept = NULL;
	h->nkept = 0;
	h->o.nkept = 0;
	h->o.atomic_only = true;
	(void)snap_sweep(&h->o);
	h->o.atomic_only = false;
	(void)snap_sweep(&h->o);
	/* A file whose name the job renamed or deleted while its events
	 * were still queued: the same as then.  And later jobs of this code
	 * should see the live files, whatever replaces them there. */
	for (size_t i = 0; i < h->nfiles; i++)
		if (h->files[i].rel)
			on_deleted(h, h->files[i].rel);
	for (size_t i = 0; i < h->nfiles; i++)
		if (h->files[i].rel)
			(void)snap_relink(&h->o, h->files[i].rel);
}

void harvest_release(struct harvest *h)
{
	if (h->ifd >= 0)
		close(h->ifd);
	if (h->rootfd >= 0)
		close(h->rootfd);
	if (h->snapfd >= 0)
		close(h->snapfd);
	if (h->listfd >= 0)
		close(h->listfd);
	for (size_t i = 0; i < h->nw; i++)
		free(h->w[i].rel);
	free(h->w);
	for (size_t i = 0; i < h->nfiles; i++)
		free(h->files[i].rel);
	free(h->files);
	free(h->slot);
	for (size_t i = 0; i < h->nlater; i++)
		free(h->later[i].rel);
	free(h->later);
	free_words(h->kept);
	code_set_release(&h->code);
	free(h->root);
	free(h->snap);
	memset(h, 0, sizeof(*h));
	h->ifd = h->rootfd = h->snapfd = h->listfd = -1;
}
