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

#define HARVEST_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define HARVEST_KEPT_MAX 20	/* paths named in the log when outputs stay in the snapshot */

/* Was rel moved before (a file replaced again and again is listed once)? */
static bool listed(const struct harvest *h, const char *rel)
{
	for (size_t i = 0; i < h->nfiles; i++)
		if (strcmp(h->files[i].rel, rel) == 0)
			return true;
	return false;
}

static void on_moved(void *arg, const char *rel, const struct stat *st)
{
	struct harvest *h = arg;
	if (h->listfd >= 0 && h->listed + strlen(rel) + 1 <= JOB_OUTPUTS_MAX && !listed(h, rel)) {
		char *line = xasprintf("%s\n", rel);
		if (write_all(h->listfd, line, strlen(line)) == 0)
			h->listed += strlen(line);
		free(line);
	}
	/* Files moved out of a code folder are remembered, so that the
	 * job's own deletion of one reaches the live copy. */
	if (!S_ISREG(st->st_mode))
		return;
	for (size_t i = 0; i < h->nfiles; i++) {
		if (strcmp(h->files[i].rel, rel) == 0) {
			h->files[i].dev = st->st_dev;
			h->files[i].ino = st->st_ino;
			return;
		}
	}
	if (h->nfiles < JOB_HARVEST_WATCHES * 16) {
		if (h->nfiles == h->capfiles) {
			h->capfiles = h->capfiles ? 2 * h->capfiles : 16;
			h->files = xrealloc(h->files, h->capfiles * sizeof(*h->files));
		}
		h->files[h->nfiles++] = (struct harvest_file){ xstrdup(rel), st->st_dev, st->st_ino };
	}
}

static void on_kept(void *arg, const char *rel, const char *why)
{
	struct harvest *h = arg;
	for (size_t i = 0; i < h->nkept; i++)
		if (strcmp(h->kept[i], rel) == 0)
			return;
	if (h->nkept < HARVEST_KEPT_MAX) {
		h->kept = xrealloc(h->kept, (h->nkept + 2) * sizeof(char *));
		h->kept[h->nkept++] = xasprintf("%s (%s)", rel, why);
		h->kept[h->nkept] = NULL;
	}
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
	int r = code_set_load(root, snap, &h->code);
	if (r < 0)
		return r;
	h->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	h->snapfd = open(snapdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (h->rootfd < 0 || h->snapfd < 0)
		return -errno;
	h->o = (struct snap_out){ .rootfd = h->rootfd, .snapfd = h->snapfd, .root = h->root, .code = &h->code,
				  .atomic_only = true, .moved = on_moved, .kept = on_kept, .arg = h };
	if (jobdirfd >= 0)
		h->listfd = openat(jobdirfd, "outputs", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	h->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (h->ifd < 0)
		return -errno;
	/* The root first, then the code folders, shallowest first (the
	 * code list is sorted, so a folder comes before what is in it). */
	watch(h, "");
	for (size_t i = 0; i < h->code.n && h->nw < JOB_HARVEST_WATCHES; i++) {
		struct stat st;
		if (fstatat(h->snapfd, h->code.path[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			watch(h, h->code.path[i]);
	}
	return 0;
}

int harvest_fd(const struct harvest *h)
{
	return h->ifd;
}

/* The job deleted rel in the snapshot, or renamed it away: if it was a
 * file linked out and the live path still holds that very file, it goes
 * there too (where it was renamed to, the file still is: in the
 * snapshot, where its own event links it out, or in a live folder). */
static void on_deleted(struct harvest *h, const char *rel)
{
	for (size_t i = 0; i < h->nfiles; i++) {
		struct harvest_file *f = &h->files[i];
		if (strcmp(f->rel, rel) != 0)
			continue;
		struct stat st;
		if (fstatat(h->snapfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			return;	/* made again meanwhile: its own events come */
		int fd = open_beneath(h->rootfd, rel, O_PATH | O_NOFOLLOW, 0);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino == f->ino && st.st_dev == f->dev) {
			char *p = xasprintf("%s/%s", h->root, rel);
			unlink(p);
			free(p);
		}
		if (fd >= 0)
			close(fd);
		free(f->rel);
		h->files[i] = h->files[--h->nfiles];
		return;
	}
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
			if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
				on_deleted(h, rel);
			else if (ev->mask & IN_ISDIR)
				later(h, rel);
			else
				(void)snap_take(&h->o, rel);
			free(rel);
		}
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
	for (size_t i = h->nfiles; i-- > 0;)
		on_deleted(h, h->files[i].rel);
	for (size_t i = 0; i < h->nfiles; i++)
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
