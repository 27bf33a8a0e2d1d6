/*
 * agent-sync.c - the agent's side of a sync: the destination of a push
 * (the engine in sync-dest.c), the source of a pull (sync-source.c).
 *
 * Both hold the root's lock in its state folder, so two syncs of one root
 * never interleave: the second waits for the first (whose agent may still
 * be winding down after its client died), then gives up with BUSY.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsx.h"
#include "job-snap.h"
#include "limits.h"
#include "sync-dest.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-source.h"
#include "sync-wire.h"
#include "util.h"

#include "banned.h"

static void send_report(struct conn *c, uint16_t type, uint32_t code, const char *path, const char *msg)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	sync_report_encode(code, path, msg, &b);
	conn_queue(c, type, b.data, b.len);
	buf_release(&b);
}

/* Push: the destination engine's hooks. */
static void dest_report(void *arg, uint16_t type, uint32_t code, const char *path, const char *msg)
{
	send_report(arg, type, code, path, msg);
}

static int dest_other(void *arg, uint16_t type, struct rd *body)
{
	agent_error(arg, PERR_PROTOCOL, "unexpected message 0x%04x during a push", type);
	return -1;
}

static void dest_proto_error(void *arg, const char *msg)
{
	agent_error(arg, PERR_PROTOCOL, "%s", msg);
}

static void later_close(void *arg, int fd)
{
	agent_defer_close(arg, fd);
}

static void later_sync(void *arg, const char *file)
{
	agent_sync_later(arg, file);
}

static int push_dest(struct conn *c, const struct sync_begin *b, int rootfd, const char *sdir)
{
	char *ixfile = xasprintf("%s/push.index", sdir), *jfile = xasprintf("%s/push.journal", sdir);
	struct agent_later later = { .nfds = 0 };
	struct dest_side side = {
		.c = c, .rootfd = rootfd, .ixfile = ixfile, .jfile = jfile, .flags = b->flags,
		.pull = b->pull, .npull = b->npull, .pull_side = false, .here = "server", .verb = "push",
		.force_paths = b->force, .nforce = b->nforce,
		.report = dest_report, .other = dest_other, .proto_error = dest_proto_error, .arg = c,
		.keep_old = later_close, .sync_later = later_sync, .later_arg = &later,
		.base_id = b->flags & SYNC_BASE_ID ? b->base : NULL,
	};
	struct sync_plan_end pe;
	struct sync_done done;
	int r = dest_run(&side, &pe, &done, NULL);
	if (r == 0 && !(b->flags & SYNC_DRY_RUN) && !(pe.guard && !(b->flags & SYNC_FORCE))) {
		struct buf out;
		buf_init(&out, FRAME_MAX);
		sync_done_encode(&done, &out);
		conn_queue(c, MSG_SYNC_DONE, out.data, out.len);
		buf_release(&out);
	}
	/* The reply out first: the client waits for no unlink or fsync. */
	(void)conn_flush(c);
	agent_later_run(&later);
	free(ixfile);
	free(jfile);
	return r;
}

/* Pull: the source.  Problems with single files go to the client as
 * SYNC_ERROR notices (code 0: a warning only). */
static void source_warn(void *arg, const char *path, const char *msg)
{
	send_report(arg, MSG_SYNC_ERROR, EIO, path, msg);
}

static void scan_warn(void *arg, bool is_error, const char *msg)
{
	send_report(arg, MSG_SYNC_ERROR, is_error ? EIO : 0, "", msg);
}

/* The client broke the protocol during a pull. */
static void pull_proto_error(void *arg, uint16_t type)
{
	agent_error(arg, PERR_PROTOCOL, "unexpected or malformed message 0x%04x during a pull", type);
}

/* What pull_ignore kept out of a pull: counted, the first few named. */
static void skipped_one(void *arg, const char *path, bool is_dir)
{
	struct sync_skipped *k = arg;
	char *p = xasprintf("%s%s", path, is_dir ? "/" : "");
	k->all_files &= !is_dir;
	path_sample_add(&k->paths, p);
	free(p);
}

static int pull_source(struct conn *c, const struct sync_begin *b, const char *root, int rootfd, const char *sdir,
		       bool locked)
{
	char *cache = xasprintf("%s/pull.cache", sdir), *err = NULL;
	struct source src;
	struct scan_stats st;
	struct sync_skipped skipped = { .all_files = true };
	int ret = -1;

	source_init(&src, rootfd, cache);
	src.warn = source_warn;
	src.arg = c;
	src.z.enabled = !(b->flags & SYNC_NO_ZSTD);
	/* Pull folders are results: pulled whole whatever .gitignore says
	 * (ML repositories ignore results/ and *.ckpt because they are
	 * results), minus the project file's pull_ignore (b->ignore). */
	struct scan_spec sp = {
		.root = root, .folders = b->pull, .nfolders = b->npull, .ignore = b->ignore,
		.nignore = b->nignore, .what = "pull folder", .missing_ok = true, .no_parents = true,
		.no_gitignore = true, .excluded = skipped_one, .excluded_arg = &skipped,
		.warn = scan_warn, .warn_arg = c,
	};
	if (b->npull == 0) {
		agent_error(c, PERR_PROTOCOL, "a pull names no folder");
		goto out;
	}
	if (scan_tree(&sp, source_add, &src, &st, &err) < 0) {
		agent_error(c, PERR_ROOT, "%s", err);
		goto out;
	}
	if (skipped.paths.count) {
		struct buf kb;
		buf_init(&kb, FRAME_MAX);
		sync_skipped_encode(&skipped, &kb);
		conn_queue(c, MSG_SYNC_SKIPPED, kb.data, kb.len);
		buf_release(&kb);
	}
	/* The conversation (source_run): the ping for zstd's first level,
	 * the base (the client's index is what we sent last time, our
	 * cache: only the changes since travel), the manifest, the client's
	 * plan, and unless it stops there the files and the commit. */
	struct source_side side = {
		.c = c, .src = &src, .flags = b->flags, .base_id = b->flags & SYNC_BASE_ID ? b->base : NULL,
		.proto_error = pull_proto_error, .arg = c,
	};
	struct source_result sr;
	int r = source_run(&side, &sr);
	source_result_release(&sr);
	if (r < 0)
		goto out;
	/* A dry run that found the lock taken writes nothing. */
	if (locked)
	source_save_cache(&src, cache);
	ret = 0;
out:
	sync_skipped_release(&skipped);
	free(err);
	free(cache);
	source_release(&src);
	return ret;
}

char *agent_state_dir(const char *root)
{
	uint8_t h[INDEX_HASH_LEN];
	char hex[2 * 8 + 1];
	hash_bytes(root, strlen(root), h);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	char *state = state_home(), *d = xasprintf("%s/roots/%s", state, hex);
	free(state);
	return d;
}

char *agent_state_private(struct conn *c, const char *root)
{
	const char *why;
	/* Every folder of ours on the way, not only the last: in the
	 * /tmp/ferry-UID fallback another user could have made the state
	 * folder first and would then own what is below it. */
	char *state = state_home(), *roots = xasprintf("%s/roots", state), *sdir = agent_state_dir(root);
	bool safe = dir_private(state, &why) == 0 && dir_private(roots, &why) == 0;
	free(roots);
	if (!safe) {
		agent_error(c, PERR_ROOT, "cannot use the state folder '%s': %s", state, why ? why : "cannot create it");
		free(state);
		free(sdir);
		return NULL;
	}
	free(state);
	if (dir_private(sdir, &why) < 0) {
		agent_error(c, PERR_ROOT, "cannot use the state folder '%s': %s", sdir, why ? why : "cannot create it");
		free(sdir);
		return NULL;
	}
	return sdir;
}

int agent_project_open(struct conn *c, const char *root, bool allow_shared, int *fd, bool *shared)
{
	char *why;
	int r = project_open(root, fd, &why);
	*shared = r == 1;
	if (r < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot use project folder '%s': %s", root,
			    strerror(-r));
		return -1;
	}
	if (r == 1 && !allow_shared) {
		agent_error(c, PERR_SHARED,
			    "project folder '%s': %s, so another user could change the code ferry runs there; "
			    "make it yours alone (chmod go-w), or, if it is meant to be shared, say `shared = yes` "
			    "under [target] in ferry.ini",
			    root, why);
		free(why);
		close(*fd);
		*fd = -1;
		return -1;
	}
	free(why);
	return 0;
}

char *agent_snap_base(struct conn *c, const char *root, bool shared)
{
	if (!shared)
		return xasprintf("%s/%s", root, SNAP_DIR);
	char *sdir = agent_state_private(c, root);
	if (sdir == NULL)
		return NULL;
	char *base = xasprintf("%s/snap", sdir);
	const char *why;
	if (dir_private(base, &why) < 0) {
		agent_error(c, PERR_ROOT, "cannot use the snapshot folder '%s': %s", base, why ? why : "cannot create it");
		free(base);
		base = NULL;
	}
	free(sdir);
	return base;
}

int agent_sync(struct conn *c, struct rd *body)
{
	struct sync_begin b;
	char *root = NULL, *sdir = NULL;
	int rootfd = -1, lockfd = -1, ret = -1;

	if (sync_begin_decode(body, &b) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed sync request");
		return -1;
	}
	root = agent_root_path(b.root);
	int r = b.flags & SYNC_PULL ? 0 : mkdir_p(root, 0755);
	bool shared;
	if (r < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot use project folder '%s': %s", root,
			    strerror(-r));
		goto out;
	}
	if (agent_project_open(c, root, b.flags & SYNC_SHARED, &rootfd, &shared) < 0)
		goto out;
	if ((sdir = agent_state_private(c, root)) == NULL)
		goto out;
	char *lock = xasprintf("%s/lock", sdir);
	/* A dry run writes nothing (but a pull's cache, skipped then): it
	 * never waits for a running sync, and reads the index as it stands
	 * (replaced by a rename; its log read up to the last committed
	 * group).  `ferry status` asks for one while a push may run. */
	bool dry = b.flags & SYNC_DRY_RUN;
	lockfd = lock_file_wait(lock, dry ? 0 : SYNC_LOCK_WAIT_MS);
	free(lock);
	if (lockfd == -EWOULDBLOCK && dry) {
		lockfd = -1;
	} else if (lockfd == -EWOULDBLOCK) {
		agent_error(c, PERR_BUSY, "another sync of '%s' is running", root);
		goto out;
	}
	if (lockfd < 0 && !dry) {
		agent_error(c, PERR_ROOT, "cannot lock '%s/lock': %s", sdir, strerror(-lockfd));
		goto out;
	}
	/* The lock may have taken seconds: a client that died meanwhile
	 * left its request in the pipe, and a sync for no one would run
	 * beside (or after) the next one.  Its end closed: nothing done. */
	struct pollfd pf = { .fd = c->rfd, .events = POLLIN };
	if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR)))
		goto out;
	ret = b.flags & SYNC_PULL ? pull_source(c, &b, root, rootfd, sdir, lockfd >= 0) : push_dest(c, &b, rootfd, sdir);
out:
	sync_begin_release(&b);
	if (rootfd >= 0)
		close(rootfd);
	if (lockfd >= 0)
		close(lockfd);
	free(root);
	free(sdir);
	return ret;
}
