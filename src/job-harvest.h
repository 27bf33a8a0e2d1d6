/*
 * job-harvest.h - a running job's outputs leave its snapshot as they
 * appear (job-harvest.c): the supervisor watches the snapshot's folders
 * and moves each new entry into the live project (snap_take).
 */
#ifndef FERRY_JOB_HARVEST_H
#define FERRY_JOB_HARVEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "job-snap.h"

struct harvest_file {
	char *rel;
	dev_t dev;
	ino_t ino;
	bool link;	/* not a file: a name where the snapshot has ferry's
			 * link to the live path (the job's renames of it are
			 * made in the live project too) */
};

struct harvest {
	int ifd;			/* inotify, -1 when off */
	int rootfd, snapfd;
	char *root, *snap;
	struct code_set code;
	struct snap_out o;
	struct { int wd; char *rel; } *w;	/* watched code folders */
	size_t nw;
	/* Files linked out, for the job's deletions: an array that only
	 * grows (a deleted one keeps its place with rel NULL), at most
	 * JOB_HARVEST_FILES, and a hash of it (index + 1, open addressing). */
	struct harvest_file *files;
	size_t nfiles, capfiles;
	uint32_t *slot;
	size_t nslots;
	int listfd;			/* the job's list of outputs, or -1 */
	size_t listed;			/* bytes written to it */
	char **kept;			/* left in the snapshot, for the log */
	size_t nkept;
	struct { char *rel; uint64_t due; } *later;	/* folders, moved a moment after */
	size_t nlater;
};

/* Starts watching the snapshot snapdir (of id snap, for the live project
 * root) before the job runs; the list of what moved is appended to
 * outputs (a file in the job's folder).  0, or -errno (the job then runs
 * without it; the end sweep still moves what it wrote). */
int harvest_start(struct harvest *h, const char *root, const char *snapdir, const char *snap, int jobdirfd);
/* The fd to poll for input, -1 when off. */
int harvest_fd(const struct harvest *h);
/* Reads and acts on what is there. */
void harvest_events(struct harvest *h);
/* When the next folder is due to move (monotonic ns), 0 if none; and
 * moving those that are due. */
uint64_t harvest_due(const struct harvest *h);
void harvest_tick(struct harvest *h);
/* Once the job has ended: everything it left that is not code.  Fills
 * h->kept with what could not move. */
void harvest_finish(struct harvest *h);
void harvest_release(struct harvest *h);

#endif
