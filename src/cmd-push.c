/*
 * cmd-push.c - `ferry push`: make the server's copy of the push set equal
 * to this one, without destroying anything changed over there.
 *
 * One pipelined session: the manifest (every entry of the push set with
 * its content hash; hashes come from the local index when the stat says
 * the file is unchanged), then the agent's plan (which files it needs,
 * conflicts, deletions), then the needed files streamed back to back,
 * then a commit.  See docs/SYNC-DESIGN.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "fsx.h"
#include "limits.h"
#include "session.h"
#include "sync-apply.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-source.h"
#include "sync-wire.h"
#include "util.h"

#include "banned.h"

struct push {
	const struct config *cfg;
	struct source src;		/* the manifest, with the local hash cache */
	uint32_t *need;
	size_t nneed;
	uint32_t conflicts, remote_errors, deletes;
	bool disk_full;
	bool json, quiet, dry_run, progress;
	uint64_t total_bytes, sent_bytes, t_start, t_last;
	size_t files_sent;
	struct session *s;
	struct ferr *pace_err;
	int base_reply;			/* SYNC_BASE: -2 not asked, -1 awaited, 0/1 */
	int retries_left;		/* pushes again for files changed while sent */
	char *changed[PUSH_CHANGED_MAX];	/* such files this time (not yet reported) */
	uint32_t changed_during;
	struct path_sample deleted;	/* what the plan deletes, for the guard's message */
	struct path_sample kept;	/* left out by a rule here, kept on the server */
	int keep_err;			/* the queue could not be drained (-1) */
};

/* The walk, run on a thread of its own while ssh connects. */
struct scan_job {
	const struct config *cfg;
	char *const *include;	/* push --ignored */
	size_t ninclude;
	struct source *src;
	struct scan_stats st;
	char *err;
	int r;
};

static void *scan_main(void *arg)
{
	struct scan_job *j = arg;
	j->r = scan_push_set_with(j->cfg, j->include, j->ninclude, source_add, j->src, &j->st, &j->err);
	return NULL;
}

static void on_unreadable(void *arg, const char *path, const char *msg)
{
	(void)arg;
	warn_msg("cannot read '%s': %s (not pushed)", path, msg);
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

/* Handles one frame during plan or transfer; 1 when the phase's end frame
 * (PLAN_END / DONE) arrived, -1 with e set on a protocol error. */
static int on_frame(struct push *p, uint16_t type, struct rd *body, struct sync_plan_end *pe,
		    struct sync_done *done, struct ferr *e)
{
	uint32_t code;
	char *path, *msg;
	switch (type) {
	case MSG_SYNC_NEED: {
		uint32_t seq = rd_u32(body);
		rd_expect_end(body);
		if (!rd_ok(body) || seq >= p->src.n || p->src.e[seq].type != ENT_FILE ||
		    (p->nneed && seq <= p->need[p->nneed - 1]))
			break;
		p->need = xrealloc(p->need, (p->nneed + 1) * sizeof(*p->need));
		p->need[p->nneed++] = seq;
		return 0;
	}
	case MSG_SYNC_SIG:
		/* The signature of the file just asked for. */
		if (source_sig(&p->src, body, p->nneed ? p->need[p->nneed - 1] : UINT32_MAX) < 0)
			break;
		return 0;
	case MSG_SYNC_CONFLICT:
	case MSG_SYNC_ERROR:
	case MSG_SYNC_DELETE:
		if (sync_report_decode(body, &code, &path, &msg) < 0)
			break;
		if (type == MSG_SYNC_CONFLICT) {
			p->conflicts++;
			if (!p->json)
				printf("conflict: %s: %s\n", path, msg);
		} else if (type == MSG_SYNC_DELETE) {
			p->deletes++;
			path_sample_add(&p->deleted, path);
			if (p->dry_run && !p->json)
				printf("delete  %s\n", path);
		} else if (code == EBADMSG && p->retries_left > 0 && p->changed_during < PUSH_CHANGED_MAX) {
			/* Changed while it was read: the push runs again (with
			 * its new content) before this is an error. */
			p->changed[p->changed_during++] = path;
			path = NULL;
		} else {
			p->remote_errors++;
			if (code == ENOSPC || code == EDQUOT) {
				p->disk_full = true;
				error_msg("disk full on %s while writing '%s'", p->s->label, path);
			} else {
				error_msg("cannot write '%s' on %s: %s", path, p->s->label, msg);
			}
		}
		free(path);
		free(msg);
		return 0;
	case MSG_SYNC_PONG:
		if (source_pong(&p->src, body) < 0)
			break;
		return 0;
	case MSG_SYNC_BASE: {
		bool match;
		if (p->base_reply != -1 || sync_base_decode(body, &match) < 0)
			break;
		p->base_reply = match;
		return 1;
	}
	case MSG_SYNC_PLAN_END:
		if (pe == NULL || sync_plan_end_decode(body, pe) < 0 || source_sigs_done(&p->src) < 0)
			break;
		return 1;
	case MSG_SYNC_DONE:
		if (done == NULL || sync_done_decode(body, done) < 0)
			break;
		return 1;
	case MSG_ERROR:
		(void)err_from_peer(body, p->s->label, e);
		return -1;
	}
	ferr_set(e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type, p->s->label);
	return -1;
}

/* One poll of the session: writes what the queue holds, reads what has
 * arrived.  timeout as for poll().  0 (with *got_input), or -1 with e set
 * when the session is gone. */
static int io_step(struct push *p, int timeout, bool *got_input, struct ferr *e)
{
	struct conn *c = &p->s->c;
	struct pollfd pf[2] = { { .fd = c->rfd, .events = POLLIN },
				{ .fd = c->out.len ? c->wfd : -1, .events = POLLOUT } };
	*got_input = false;
	if (poll(pf, 2, timeout) <= 0)
		return 0;
	if (pf[1].revents && conn_flush_some(c) < 0) {
		session_lost(p->s, true, e);
		return -1;
	}
	if (pf[0].revents) {
		int fr = conn_fill(c);
		if (fr == 0 || (fr < 0 && fr != -EAGAIN)) {
			session_lost(p->s, true, e);
			return -1;
		}
		*got_input = fr > 0;
	}
	return 0;
}

/* Handles the frames that have arrived, and with block=true waits for
 * more until the end frame of the phase (PLAN_END or DONE).  1 at the end
 * frame, 0 when not blocking and nothing more is there, -1 on error. */
static int pump_input(struct push *p, bool block, struct sync_plan_end *pe, struct sync_done *done,
		      struct ferr *e)
{
	for (;;) {
		uint16_t type;
		struct rd body;
		int r;
		while ((r = conn_next(&p->s->c, &type, &body)) == 1) {
			int fr = on_frame(p, type, &body, pe, done, e);
			if (fr != 0)
				return fr;
		}
		if (r < 0) {
			ferr_set(e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", p->s->label);
			return -1;
		}
		bool got;
		if (io_step(p, block ? -1 : 0, &got, e) < 0)
			return -1;
		if (!block && !got)
			return 0;
	}
}

/* Keeps the output queue bounded, handling what the agent says meanwhile. */
static int drain_out(struct push *p, size_t below, struct ferr *e)
{
	while (p->s->c.out.len > below) {
		bool got;
		if (io_step(p, -1, &got, e) < 0)
			return -1;
		if (got && pump_input(p, false, NULL, NULL, e) < 0)
			return -1;
	}
	return 0;
}

/* The single progress line on stderr: files, bytes, rate, ETA; at most
 * ten updates a second. */
static void progress(struct push *p, bool final)
{
	uint64_t now = now_mono_ns();
	if (!p->progress || (!final && now - p->t_last < 100000000u))
		return;
	p->t_last = now;
	double secs = (double)(now - p->t_start) / 1e9;
	double rate = secs > 0 ? (double)p->sent_bytes / secs : 0;
	double left = rate > 0 ? (double)(p->total_bytes - p->sent_bytes) / rate : 0;
	char *line = xasprintf("\rpush: %zu/%zu files, %.1f/%.1f MB, %.1f MB/s, ETA %.0f s\033[K%s",
			       p->files_sent, p->nneed, (double)p->sent_bytes / 1e6, (double)p->total_bytes / 1e6,
			       rate / 1e6, left, final ? "\n" : "");
	(void)write_all(2, line, strlen(line));
	free(line);
}

/* After each chunk: the progress line, and a bounded queue.  Writing
 * what the link takes now keeps the queue's length a measure of the link:
 * only a backlog makes compression worth its time (sync-zstd.h).  Below
 * CONN_OUT_BATCH nothing is written yet: a hundred small files are a few
 * writes, not a hundred wake-ups of ssh and the agent.  Whatever is left
 * goes out with the poll that waits for the agent's answer. */
static int pace(void *arg, uint64_t n)
{
	struct push *p = arg;
	struct ferr *e = p->pace_err;
	p->sent_bytes += n;
	progress(p, false);
	if (p->s->c.out.len < CONN_OUT_BATCH)
		return 0;
	if (conn_flush_some(&p->s->c) < 0) {
		session_lost(p->s, true, e);
		return -1;
	}
	if (p->s->c.out.len > CONN_OUT_HIGH && drain_out(p, CONN_OUT_HIGH / 2, e) < 0)
		return -1;
	return 0;
}

/* While the manifest is queued: the queue kept bounded, and what the
 * agent said meanwhile (a pong: its time is when it is read) handled. */
static int manifest_flow(void *arg)
{
	struct push *p = arg;
	if (drain_out(p, CONN_OUT_HIGH / 2, p->pace_err) < 0)
		return -1;
	if (p->src.ping_sent == 0)
		return 0;
	return pump_input(p, false, NULL, NULL, p->pace_err) < 0 ? -1 : 0;
}

/* A path the last push sent that is still here but no longer in the
 * push set (a new ignore rule, a folder no longer pushed): the server
 * keeps its copy and forgets it (SYNC_KEEP), as rsync keeps excluded
 * files unless --delete-excluded. */
static void keep_one(void *arg, const char *path, bool is_dir)
{
	struct push *p = arg;
	struct buf b;
	if (p->keep_err)
		return;
	if (!is_dir)
		path_sample_add(&p->kept, path);
	buf_init(&b, FRAME_MAX);
	sync_keep_encode(path, &b);
	conn_queue(&p->s->c, MSG_SYNC_KEEP, b.data, b.len);
	buf_release(&b);
	if (p->s->c.out.len > CONN_OUT_HIGH)
		p->keep_err = drain_out(p, CONN_OUT_HIGH / 2, p->pace_err);
}

static void push_release(struct push *p)
{
	path_sample_release(&p->deleted);
	path_sample_release(&p->kept);
	for (uint32_t i = 0; i < p->changed_during; i++)
		free(p->changed[i]);
	int fd = p->src.rootfd;
	source_release(&p->src);
	free(p->need);
	if (fd >= 0)
		close(fd);
}

int cmd_push(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "ignored", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct push_opts po = { .want_progress = -1 };
	bool ignored = false;
	int c;

	while ((c = getopt_long(argc, argv, "+nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': po.dry_run = true; break;
		case 'f': po.force = true; break;
		case 'j': po.json = true; break;
		case 'q': po.quiet = true; break;
		case 'P': po.want_progress = 1; break;
		case 'I': ignored = true; break;
		case 'h': cmd_usage("push", 0); return 0;
		default: cmd_usage("push", 1); return EXIT_USAGE;
		}
	}
	if (ignored) {
		/* --ignored PATH...: these go too, whatever the rules (a
		 * dataset .gitignore keeps out); --force stays plain. */
		if (optind == argc)
			cmd_usage_die("push", "--ignored wants the paths to send");
		cmd_load_config(&cfg, ctx->dir);
		po.include = xcalloc((size_t)(argc - optind) + 1, sizeof(char *));
		for (int i = optind; i < argc; i++) {
			char *rel = cmd_project_path(&cfg, argv[i]);
			bool inside = rel != NULL;
			struct stat st;
			char *abs = rel ? xasprintf("%s/%s", cfg.root, rel) : NULL;
			int err = inside && lstat(abs, &st) < 0 ? errno : 0;
			if (inside && !err)
				po.include[po.ninclude++] = rel;
			else
				free(rel);
			free(abs);
			if (!inside || err) {
				free_words(po.include);
				config_release(&cfg);
			}
			if (!inside)
				cmd_usage_die("push", "'%s' is not a path inside the project (%s)", argv[i], cfg.root);
			if (err)
				die(EXIT_FAIL, "cannot push '%s': %s", argv[i], strerror(err));
		}
		c = push_run(&cfg, &po, NULL);
		free_words(po.include);
		config_release(&cfg);
		return c;
	}
	if (optind != argc && !po.force)
		cmd_usage_die("push", "unexpected '%s' (paths go after --force or --ignored)", argv[optind]);
	if (argc - optind > SYNC_FORCE_PATHS_MAX)
		cmd_usage_die("push", "more than %d paths after --force", SYNC_FORCE_PATHS_MAX);
	/* --force PATH...: only these paths (relative to the project
	 * root) are overwritten; other conflicts stay, the guard stands. */
	if (optind != argc) {
		po.force_paths = xcalloc((size_t)(argc - optind) + 1, sizeof(char *));
		for (int i = optind; i < argc; i++) {
			char *a = cmd_root_path(argv[i]);
			if (path_check_rel(a, strlen(a)) < 0)
				cmd_usage_die("push", "'%s' is not a path inside the project", argv[i]);
			po.force_paths[po.nforce++] = a;
		}
		po.force = false;
	}
	cmd_load_config(&cfg, ctx->dir);
	c = push_run(&cfg, &po, NULL);
	free_words(po.force_paths);
	config_release(&cfg);
	return c;
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

static int push_attempt(const struct config *cfg_, const struct push_opts *po, struct session *keep,
			int retries_left);

int push_run(const struct config *cfg_, const struct push_opts *po, struct session *keep)
{
	return push_attempt(cfg_, po, keep, PUSH_RETRIES);
}

static int push_attempt(const struct config *cfg_, const struct push_opts *po, struct session *keep,
			int retries_left)
{
	struct push p = { .dry_run = po->dry_run, .json = po->json, .quiet = po->quiet, .base_reply = -2,
			  .retries_left = retries_left };
	struct session s;
	struct ferr e = { 0 };
	struct sync_begin sb = { 0 };
	struct scan_job sj = { .cfg = cfg_, .src = &p.src, .include = po->include, .ninclude = po->ninclude };
	struct buf b;
	int force = po->force, want_progress = po->want_progress;
	uint64_t t0 = now_mono_ns();
	trace_phase("start");

	p.cfg = cfg_;
	int rootfd = open(cfg_->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(EXIT_OSERR, "cannot open the project folder '%s': %s", cfg_->root, strerror(errno));

	/* ssh and the agent start first, then the walk (and hashing), while
	 * we load our cache: on a warm ControlMaster the connection costs
	 * more than the walk.  Signals keep their default: an interrupted
	 * push leaves no partial file (temp + rename), and the next push
	 * completes it. */
	struct session_opts so = { 0 };
	int opened = session_start(&s, cfg_, &so, &e);
	char *tdir = sync_target_dir(cfg_), *ixf = xasprintf("%s/push.index", tdir);
	source_init(&p.src, rootfd, NULL);
	p.src.warn = on_unreadable;
	p.src.defer_big = !p.dry_run;
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, scan_main, &sj) == 0;
	source_load_cache(&p.src, ixf);
	trace_phase("cache loaded");

	sb.flags = (force ? SYNC_FORCE : 0) | (p.dry_run ? SYNC_DRY_RUN : 0) |
		   (cfg_->kind == TARGET_LOCAL ? SYNC_NO_ZSTD : 0) | (po->nforce ? SYNC_FORCE_PATHS : 0);
	sb.force = po->force_paths;
	sb.nforce = po->nforce;
	/* The manifest we sent last time: if the agent's index is still the
	 * result of it, only what changed since needs to travel. */
	if (source_base_id(&p.src, sb.base))
		sb.flags |= SYNC_BASE_ID;
	sb.root = cfg_->path;
	const char *dpull[] = { "results" };
	sb.npull = (uint32_t)(cfg_->pull.n ? cfg_->pull.n : 1);
	sb.pull = cfg_->pull.n ? cfg_->pull.v : (char **)dpull;
	buf_init(&b, FRAME_MAX);
	sync_begin_encode(&sb, &b);

	if (!threaded)
		scan_main(&sj);
	if (opened == 0)
		opened = session_finish(&s, MSG_SYNC_BEGIN, &b, &e);
	if (threaded)
		pthread_join(th, NULL);
	source_scan_done(&p.src);
	/* A local link is faster than any compression. */
	p.src.z.enabled = cfg_->kind != TARGET_LOCAL;
	trace_phase("session open, scanned");
	if (sj.r < 0) {
		if (opened == 0)
			session_close(&s);
		die(EXIT_OSERR, "%s", sj.err);
	}
	if (opened < 0)
		ferr_die(&e);
	/* push --ignored: a path the walk did not reach (outside the push
	 * folders, in a pull folder, .git) is said, and nothing is sent. */
	for (uint32_t i = 0; i < po->ninclude; i++) {
		bool found = false;
		for (size_t k = 0; k < p.src.n && !found; k++)
			found = strcmp(p.src.e[k].path, po->include[i]) == 0;
		if (!found) {
			session_close(&s);
			die(EXIT_FAIL, "cannot push '%s': it is not in a push folder, or is in a pull folder or ferry's own "
			    "(see `ferry check-ignore -v %s`)", po->include[i], po->include[i]);
		}
	}
	p.s = &s;
	p.pace_err = &e;
	/* Large changed files: the agent makes their signatures while we
	 * hash them, not after. */
	if (p.src.ndeferred) {
		source_queue_hints(&p.src, &s.c);
		if (conn_flush(&s.c) < 0) {
			session_lost(&s, true, &e);
			ferr_die(&e);
		}
		source_hash_deferred(&p.src);
		trace_phase("large files hashed");
	}
	/* The round trip, for zstd's first level: pinged when nothing but
	 * the manifest is left before we wait (manifest_flow takes the pong
	 * as it arrives), not before minutes of hashing.  The agent answers
	 * between frames and during its index walk. */
	if (source_ping(&p.src, &s.c) < 0) {
		session_lost(&s, true, &e);
		ferr_die(&e);
	}
	bool changes_only = false;
	if (sb.flags & SYNC_BASE_ID) {
		p.base_reply = -1;
		if (pump_input(&p, true, NULL, NULL, &e) < 0)
			ferr_die(&e);
		changes_only = p.base_reply == 1;
	}
	(void)source_left_out(&p.src, keep_one, &p);
	if (p.keep_err < 0)
		ferr_die(&e);
	size_t sent_entries;
	if (source_queue_manifest(&p.src, &s.c, changes_only, manifest_flow, &p, &sent_entries) < 0)
		ferr_die(&e);
	trace_phase("manifest queued");
	struct sync_plan_end pe = { 0 };
	if (pump_input(&p, true, &pe, NULL, &e) < 0)
		ferr_die(&e);
	trace_phase("plan end");
	int code = 0;
	if (pe.guard && !force) {
		char *names = path_sample_text(&p.deleted);
		error_msg("this push would delete %u of the %u files ferry put on %s: %s", pe.deletes, pe.indexed,
			  s.label, names);
		hint_msg("these were deleted or moved here; `ferry push --dry-run` lists them all; "
			 "only if you really removed them, `ferry push --force` deletes them there");
		free(names);
		session_close(&s);
		code = EXIT_FAIL;
		goto out;
	}
	if (p.kept.count && p.dry_run && !p.json) {
		char *names = path_sample_text(&p.kept);
		printf("would keep %u file%s on %s that %s no longer in the push set (not deleted there): %s\n",
		       p.kept.count, p.kept.count == 1 ? "" : "s", s.label, p.kept.count == 1 ? "is" : "are", names);
		free(names);
	}
	if (p.dry_run) {
		for (size_t i = 0; i < p.nneed; i++)
			if (!p.json)
				printf("send    %s (%llu bytes)\n", p.src.e[p.need[i]].path, (unsigned long long)p.src.e[p.need[i]].size);
		session_close(&s);
		/* Files and symlinks, as push, pull, ls-files and status count. */
		if (p.json)
			printf("{\"dry_run\":true,\"send\":%u,\"delete\":%u,\"conflicts\":%u}\n", pe.need, p.deletes, p.conflicts);
		else
			printf("dry run: %u to send, %u to delete, %u conflict%s\n", pe.need, p.deletes, p.conflicts,
			       p.conflicts == 1 ? "" : "s");
		code = p.conflicts || sj.st.errors || p.src.errors ? EXIT_FAIL : 0;
		goto out;
	}
	/* A progress line on a terminal unless --quiet; --progress forces it. */
	p.progress = want_progress == 1 || (want_progress < 0 && !p.quiet && !p.json && isatty(2));
	for (size_t i = 0; i < p.nneed; i++)
		p.total_bytes += p.src.e[p.need[i]].size;
	p.t_start = now_mono_ns();
	for (size_t i = 0; i < p.nneed; i++) {
		int r = source_send(&p.src, &s.c, p.need[i], pace, &p);
		if (r < 0)
			ferr_die(&e);
		if (r > 0) {
			p.files_sent++;
			progress(&p, false);
		}
	}
	if (p.nneed)
		progress(&p, true);
	conn_queue(&s.c, MSG_SYNC_COMMIT, NULL, 0);
	struct sync_done done = { 0 };
	if (pump_input(&p, true, NULL, &done, &e) < 0)
		ferr_die(&e);
	trace_phase("done");
	/* Bytes on the wire, after delta and compression. */
	uint64_t wire_out = s.c.bytes_out, wire_in = s.c.bytes_in;
	const char *why;
	if (dir_private(tdir, &why) == 0)
		source_save_cache(&p.src, ixf);

	trace_phase("cache saved");
	if (p.changed_during && !p.disk_full && !p.remote_errors && !p.conflicts) {
		/* Files changed while they were sent: they were not placed.
		 * Once more, with what they hold now (only they travel). */
		session_close(&s);
		if (!p.quiet && !p.json)
			warn_msg("%u file%s changed while %s sent; pushing again", p.changed_during,
				 p.changed_during == 1 ? "" : "s", p.changed_during == 1 ? "it was" : "they were");
		code = push_attempt(cfg_, po, keep, retries_left - 1);
		goto out;
	}
	/* Not pushed again (other problems to report): errors after all. */
	for (uint32_t i = 0; i < p.changed_during; i++) {
		error_msg("cannot write '%s' on %s: changed while it was being sent; push again", p.changed[i],
			  s.label);
		p.remote_errors++;
	}
	double secs = (double)(now_mono_ns() - t0) / 1e9;
	if (p.json)
		printf("{\"files\":%zu,\"written\":%u,\"deleted\":%u,\"conflicts\":%u,\"errors\":%zu,"
		       "\"bytes\":%llu,\"bytes_sent\":%llu,\"bytes_received\":%llu,\"seconds\":%.3f,"
		       "\"manifest\":\"%s\",\"manifest_entries\":%zu,\"kept\":%u}\n", files_in(&p.src),
		       done.written, done.deleted, p.conflicts, sj.st.errors + p.src.errors + p.remote_errors,
		       (unsigned long long)p.sent_bytes, (unsigned long long)wire_out, (unsigned long long)wire_in, secs,
		       changes_only ? "changes" : "full", sent_entries, p.kept.count);
	else if (!p.quiet)
		printf("pushed %u, deleted %u, %u conflict%s (%zu in the push set, %llu bytes sent, %.2f s)\n",
		       done.written, done.deleted, p.conflicts, p.conflicts == 1 ? "" : "s", files_in(&p.src),
		       (unsigned long long)wire_out, secs);
	if (p.kept.count && !p.quiet && !p.json) {
		char *names = path_sample_text(&p.kept);
		printf("kept %u file%s on %s that %s no longer in the push set (not deleted there): %s\n",
		       p.kept.count, p.kept.count == 1 ? "" : "s", s.label, p.kept.count == 1 ? "is" : "are", names);
		free(names);
	}
	code = p.disk_full || p.remote_errors ? EXIT_REMOTE : p.conflicts || sj.st.errors || p.src.errors ? EXIT_FAIL : 0;
	if (p.conflicts && !p.json)
		hint_msg("conflicting files were left as they are; `ferry diff PATH` shows both sides, "
			 "`ferry push --force PATH...` overwrites those, `ferry push --force` all of them");
	/* ferry run goes on in the same session once the push is complete. */
	if (keep && code == 0)
		*keep = s;
	else
		session_close(&s);
out:
	free(tdir);
	free(ixf);
	free(sj.err);
	push_release(&p);
	buf_release(&b);
	return code;
}
