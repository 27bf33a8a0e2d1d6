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

static int push_dest(struct conn *c, const struct sync_begin *b, int rootfd, const char *sdir)
{
	char *ixfile = xasprintf("%s/push.index", sdir), *jfile = xasprintf("%s/push.journal", sdir);
	struct dest_side side = {
		.c = c, .rootfd = rootfd, .ixfile = ixfile, .jfile = jfile, .flags = b->flags,
		.pull = b->pull, .npull = b->npull, .pull_side = false, .here = "server", .verb = "push",
		.force_paths = b->force, .nforce = b->nforce,
		.report = dest_report, .other = dest_other, .proto_error = dest_proto_error, .arg = c,
		.keep_old = agent_defer_close, .sync_later = agent_sync_later,
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

/* After each chunk: write what the link takes now (so the queue's
 * length says whether the link is the bottleneck, sync-zstd.h), and wait
 * for it when the queue is over its bound.  Less than CONN_OUT_BATCH
 * waits for more (small files share a write). */
static int pace_flush(void *arg, uint64_t n)
{
	struct conn *c = arg;
	if (c->out.len < CONN_OUT_BATCH)
		return 0;
	if (conn_flush_some(c) < 0)
		return -1;
	if (c->out.len <= CONN_OUT_HIGH)
		return 0;
	/* Over the bound: wait for the link, down to half. */
	while (c->out.len > CONN_OUT_HIGH / 2) {
		struct pollfd p = { .fd = c->wfd, .events = POLLOUT };
		(void)poll(&p, 1, -1);
		if (conn_flush_some(c) < 0)
			return -1;
	}
	return 0;
}

/* A pull's source and its connection (flush_flow's argument). */
struct pull_link {
	struct conn *c;
	struct source *src;
};

/* A pong: the round trip for zstd (source_pong). */
static int take_pong(struct pull_link *l, struct rd *body)
{
	if (source_pong(l->src, body) < 0) {
		agent_error(l->c, PERR_PROTOCOL, "an unexpected or malformed pong");
		return -1;
	}
	return 0;
}

/* While the manifest is queued: a pong that has arrived is taken now
 * (its time is when it is read); the queue goes out once it is long. */
static int flush_flow(void *arg)
{
	struct pull_link *l = arg;
	uint16_t type;
	struct rd body;
	if (l->src->ping_sent && conn_ready(l->c) == 1 && conn_next(l->c, &type, &body) == 1) {
		if (type != MSG_SYNC_PONG)
			conn_unread(l->c);
		else if (take_pong(l, &body) < 0)
			return -1;
	}
	return l->c->out.len > CONN_OUT_HIGH ? conn_flush(l->c) : 0;
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

static int pull_source(struct conn *c, const struct sync_begin *b, const char *root, int rootfd, const char *sdir)
{
	char *cache = xasprintf("%s/pull.cache", sdir), *err = NULL;
	struct source src;
	struct scan_stats st;
	struct sync_skipped skipped = { .all_files = true };
	uint32_t *need = NULL;
	size_t nneed = 0;
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
	/* The round trip, for zstd's first level (zpack_rtt): pinged once
	 * the walk and its hashing are done, so that the pong is read as it
	 * arrives (while the manifest is queued, or as we wait for the
	 * plan).  The client answers between frames and during its walk. */
	struct pull_link link = { .c = c, .src = &src };
	if (source_ping(&src, c) < 0)
		goto out;
	/* The client's index is what we sent last time (our cache): only
	 * the changes since travel.  Said first, the manifest after. */
	bool changes = false;
	if (b->flags & SYNC_BASE_ID) {
		uint8_t id[INDEX_HASH_LEN];
		changes = source_base_id(&src, id) && memcmp(id, b->base, INDEX_HASH_LEN) == 0;
		uint8_t m = changes;
		conn_queue(c, MSG_SYNC_BASE, &m, 1);
	}
	size_t sent;
	if (source_queue_manifest(&src, c, changes, flush_flow, &link, &sent) < 0)
		goto out;
	/* The client plans: NEED for each file it wants, then its plan. */
	struct sync_plan_end pe;
	for (;;) {
		uint16_t type;
		struct rd body;
		if (conn_flush(c) < 0 || conn_read(c, &type, &body) <= 0)
			goto out;
		if (type == MSG_SYNC_SIG) {
			if (source_sig(&src, &body, nneed ? need[nneed - 1] : UINT32_MAX) < 0) {
				agent_error(c, PERR_PROTOCOL, "malformed or unexpected file signature");
				goto out;
			}
			continue;
		}
		if (type == MSG_SYNC_PONG) {
			if (take_pong(&link, &body) < 0)
				goto out;
			continue;
		}
		if (type == MSG_SYNC_PLAN_END) {
			if (sync_plan_end_decode(&body, &pe) < 0 || source_sigs_done(&src) < 0) {
				agent_error(c, PERR_PROTOCOL, "malformed sync plan");
				goto out;
			}
			break;
		}
		uint32_t seq = rd_u32(&body);
		rd_expect_end(&body);
		if (type != MSG_SYNC_NEED || !rd_ok(&body) || seq >= src.n || src.e[seq].type != ENT_FILE ||
		    (nneed && seq <= need[nneed - 1])) {
			agent_error(c, PERR_PROTOCOL, "unexpected or malformed message 0x%04x during a pull", type);
			goto out;
		}
		need = xrealloc(need, (nneed + 1) * sizeof(*need));
		need[nneed++] = seq;
	}
	/* Dry run, or the guard tripped: the client stops here, and so do we. */
	if (!(b->flags & SYNC_DRY_RUN) && !(dest_guard_trips(&pe) && !(b->flags & SYNC_FORCE))) {
		for (size_t i = 0; i < nneed; i++)
			if (source_send(&src, c, need[i], pace_flush, c) < 0)
				goto out;
		conn_queue(c, MSG_SYNC_COMMIT, NULL, 0);
		if (conn_flush(c) < 0)	/* the client commits while we save */
			goto out;
	}
	source_save_cache(&src, cache);
	ret = 0;
out:
	sync_skipped_release(&skipped);
	free(need);
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

int agent_sync(struct conn *c, struct rd *body)
{
	struct sync_begin b;
	char *root = NULL, *sdir = NULL;
	const char *why;
	int rootfd = -1, lockfd = -1, ret = -1;

	if (sync_begin_decode(body, &b) < 0) {
		agent_error(c, PERR_PROTOCOL, "malformed sync request");
		return -1;
	}
	root = agent_root_path(b.root);
	int r = b.flags & SYNC_PULL ? 0 : mkdir_p(root, 0755);
	rootfd = r < 0 ? -1 : open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		agent_error(c, r == -ENOSPC ? PERR_NOSPC : PERR_ROOT, "cannot use project folder '%s': %s", root,
			    strerror(r < 0 ? -r : errno));
		goto out;
	}
	sdir = agent_state_dir(root);
	if (dir_private(sdir, &why) < 0) {
		agent_error(c, PERR_ROOT, "cannot use the state folder '%s': %s", sdir, why ? why : "cannot create it");
		goto out;
	}
	char *lock = xasprintf("%s/lock", sdir);
	lockfd = lock_file_wait(lock, SYNC_LOCK_WAIT_MS);
	free(lock);
	if (lockfd == -EWOULDBLOCK) {
		agent_error(c, PERR_BUSY, "another sync of '%s' is running", root);
		goto out;
	}
	if (lockfd < 0) {
		agent_error(c, PERR_ROOT, "cannot lock '%s/lock': %s", sdir, strerror(-lockfd));
		goto out;
	}
	ret = b.flags & SYNC_PULL ? pull_source(c, &b, root, rootfd, sdir) : push_dest(c, &b, rootfd, sdir);
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
