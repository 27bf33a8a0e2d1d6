/*
 * sync-push.h - a push as a library call: make the server's copy of the
 * push set equal to this one, without destroying anything changed over
 * there.  `ferry push`, `ferry run` (a push, then a job in the same
 * session) and `ferry status` (a dry run) call it; `watch` will.
 *
 * It opens its own session, walks and hashes the push set while ssh
 * connects, runs the source side of the conversation (source_run), and
 * saves the hash cache.  Files that changed while they were sent are
 * pushed again, in a loop, with a fresh session.  It never prints and
 * never exits: what happens comes to the caller's hooks, a failure back
 * in struct ferr with its exit code and hint.
 */
#ifndef FERRY_SYNC_PUSH_H
#define FERRY_SYNC_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "sync-wire.h"

struct ferr;
struct session;

struct sync_push_opts {
	bool dry_run;
	bool force;			/* overwrite every conflict, pass the guard */
	char *const *force_paths;	/* or overwrite only these (nforce > 0) */
	uint32_t nforce;
	char *const *include;		/* push --ignored PATH...: sent whatever the rules */
	uint32_t ninclude;
	/* ssh never prompts (a caller with no user to answer, such as the
	 * status's dry run beside its own session). */
	bool batch;
	/* Run on this open session instead of opening one: ferry status does
	 * its dry run beside a monitor stream on another channel of the same
	 * session.  It stays the caller's, open, whatever happens (a lost
	 * link is said in e); nothing is retried on it. */
	struct session *session;
};

/* What the push tells as it goes; every hook may be NULL. */
struct sync_push_hooks {
	/* The walk's warnings (an unreadable folder, a FIFO; is_error:
	 * counted).  NULL: on stderr, as the walk says them. */
	void (*scan_warn)(void *arg, bool is_error, const char *msg);
	/* A local file that could not be read (not pushed). */
	void (*unreadable)(void *arg, const char *path, const char *msg);
	/* The plan: a conflict; a deletion. */
	void (*conflict)(void *arg, const char *path, const char *msg);
	void (*deletion)(void *arg, const char *path);
	/* A file the server could not write (disk_full: ENOSPC or EDQUOT;
	 * msg NULL for a file that changed while it was sent, past the
	 * retries). */
	void (*write_error)(void *arg, const char *label, const char *path, const char *msg, bool disk_full);
	/* Files changed while they were sent: pushed once more. */
	void (*again)(void *arg, uint32_t nchanged);
	/* File data queued (bytes, of total for the files to send), files
	 * done; final once all are sent.  For a progress line. */
	void (*progress)(void *arg, uint64_t sent, uint64_t total, size_t files_done, size_t files, bool final);
	void *arg;
};

struct sync_push_result {
	bool guard;			/* stopped: it would delete too much */
	uint32_t need;			/* files and links the server wants */
	uint32_t plan_deletes, indexed;	/* the plan's deletions, of files indexed there */
	uint32_t deletes;		/* deletions reported, one by one */
	uint32_t conflicts, written, deleted;
	/* A dry run: the files the server would be sent, in order. */
	struct sync_push_send {
		char *path;
		uint64_t size;
	} *sends;
	size_t nsends;
	size_t errors;			/* local files not read */
	size_t remote_errors;		/* files not written there */
	bool disk_full;
	size_t files;			/* files and links in the push set */
	uint64_t bytes;			/* file bytes sent (before delta, zstd) */
	uint64_t wire_out, wire_in;	/* bytes on the link */
	bool changes_only;		/* the manifest held only changes */
	size_t manifest_entries;
	struct path_sample deleted_paths;	/* the plan's deletions, sampled */
	struct path_sample kept;	/* left out by a rule here, kept there */
	char *label;			/* the session's "host" or "local" */
	uint64_t ns;			/* how long it took */
	/* The exit status the result stands for: 0, EXIT_FAIL (conflicts,
	 * local errors, the guard) or EXIT_REMOTE (write errors there). */
	int code;
};

/* Pushes the project cfg names.  0 with *res filled (res->code says how
 * it went), or -1 with e set (no session, the link lost for good, a
 * protocol error, the agent's error; res->label may be NULL).  With keep
 * and res->code 0, the session stays open in *keep for more requests.
 * sync_push_result_release frees res either way. */
int sync_push(const struct config *cfg, const struct sync_push_opts *o, const struct sync_push_hooks *h,
	      struct sync_push_result *res, struct session *keep, struct ferr *e);
void sync_push_result_release(struct sync_push_result *res);

/* The client's state folder for this target (.ferry/<id>); the caller
 * frees. */
char *sync_target_dir(const struct config *cfg);

#endif
