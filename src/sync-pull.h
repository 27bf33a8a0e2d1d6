/*
 * sync-pull.h - a pull as a library call: bring the pull folders (or
 * what a job wrote) back from the server without destroying anything
 * changed here.  The client is the destination: it runs dest_run
 * (sync-dest.h) beneath the project root; the agent runs source_run.
 *
 * Every path the agent sends is checked, must lie inside a folder pulled,
 * and is written without following a symlink.  It never prints and never
 * exits: reports come to the caller's hooks, a failure back in struct
 * ferr.
 */
#ifndef FERRY_SYNC_PULL_H
#define FERRY_SYNC_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "sync-wire.h"

struct ferr;

struct sync_pull_opts {
	bool dry_run;
	bool force;			/* overwrite every conflict, pass the guard */
	char *const *force_paths;	/* or overwrite only these (nforce > 0) */
	uint32_t nforce;
	/* What to pull: pull folders, or with job set the paths a job
	 * wrote (pull --job). */
	char *const *folders;
	uint32_t nfolders;
	bool job;
	/* Every pull folder is pulled: our index may be the base of a
	 * changes-only manifest. */
	bool whole;
};

/* What the pull tells as it goes; every hook may be NULL. */
struct sync_pull_hooks {
	/* MSG_SYNC_CONFLICT, MSG_SYNC_KEEP (a local edit kept),
	 * MSG_SYNC_DELETE, or MSG_SYNC_ERROR (a file not written here;
	 * disk_full for ENOSPC and EDQUOT). */
	void (*report)(void *arg, uint16_t type, const char *path, const char *msg, bool disk_full);
	/* A file the plan asks for (a dry run lists them). */
	void (*need)(void *arg, const struct sync_entry *e);
	/* What the agent could not read (path "" for a folder's warning). */
	void (*notice)(void *arg, const char *label, const char *path, const char *msg);
	/* File data received, a file done; for a progress line. */
	void (*progress)(void *arg, uint64_t bytes, bool file_done);
	void *arg;
};

struct sync_pull_result {
	struct sync_plan_end pe;	/* the plan */
	struct sync_done done;		/* what happened */
	bool guard;			/* stopped: it would delete too much */
	uint32_t conflicts, deletes, kept_edits;
	uint32_t errors;		/* files not written here */
	uint32_t remote_errors;		/* files the agent could not read */
	bool disk_full;
	bool changes_only;		/* the manifest held only changes */
	size_t nneed;
	uint64_t bytes;			/* file bytes received */
	uint64_t wire_in, wire_out;
	struct path_sample deleted;	/* the plan's deletions here, sampled */
	struct path_sample forgotten;	/* left out by a rule now: kept here */
	struct sync_skipped skipped;	/* what pull_ignore kept on the server */
	char *label;			/* the session's "host" or "local" */
};

/* 0 with *res filled, or -1 with e set.  sync_pull_result_release frees
 * res either way. */
int sync_pull(const struct config *cfg, const struct sync_pull_opts *o, const struct sync_pull_hooks *h,
	      struct sync_pull_result *res, struct ferr *e);
void sync_pull_result_release(struct sync_pull_result *res);

/* Is path a the same as b, or below it? */
bool sync_path_under(const char *a, const char *b);

#endif
