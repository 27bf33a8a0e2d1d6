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
#include "sync-wire.h"
#include "util.h"

struct push {
	const struct config *cfg;
	int rootfd;
	struct index old, nx;		/* local hash cache, before and after */
	struct sync_entry *e;
	size_t n, cap;
	uint64_t *ino;
	uint32_t *need;
	size_t nneed;
	size_t local_errors;
	uint32_t conflicts, remote_errors, deletes;
	bool disk_full;
	bool json, quiet, dry_run, progress;
	uint64_t total_bytes, sent_bytes, t_start, t_last;
	size_t files_sent;
	struct session *s;
};

static int on_entry(const struct scan_entry *se, void *arg)
{
	struct push *p = arg;
	struct sync_entry e = { .type = (uint8_t)se->type, .mode = (uint16_t)se->mode,
				.size = se->size, .mtime_ns = se->mtime_ns };

	if (se->type == ENT_FILE) {
		const struct index_entry *o = index_find(&p->old, se->path);
		if (o && o->type == ENT_FILE &&
		    index_stat_clean(&p->old, o, se->size, se->mtime_ns, se->ino, (uint16_t)se->mode)) {
			memcpy(e.hash, o->hash, INDEX_HASH_LEN);
		} else {
			int fd = open_beneath(p->rootfd, se->path, O_RDONLY | O_NONBLOCK, 0);
			int r = fd < 0 ? fd : hash_fd(fd, e.hash);
			if (fd >= 0)
				close(fd);
			if (r < 0) {
				/* Reported; the rest is pushed; exit non-zero. */
				warn_msg("cannot read '%s': %s (not pushed)", se->path, strerror(-r));
				p->local_errors++;
				return 0;
			}
		}
	} else if (se->type == ENT_LINK) {
		e.link = apply_readlink(p->rootfd, se->path);
		if (e.link == NULL || e.link[0] == '\0') {
			warn_msg("cannot read symlink '%s' (not pushed)", se->path);
			p->local_errors++;
			free(e.link);
			return 0;
		}
		hash_bytes(e.link, strlen(e.link), e.hash);
	}
	e.path = xstrdup(se->path);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->e = xrealloc(p->e, p->cap * sizeof(*p->e));
		p->ino = xrealloc(p->ino, p->cap * sizeof(*p->ino));
	}
	p->ino[p->n] = se->ino;
	p->e[p->n++] = e;
	return 0;
}

static char *target_dir(const struct config *cfg)
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
		if (!rd_ok(body) || seq >= p->n || p->e[seq].type != ENT_FILE ||
		    (p->nneed && seq <= p->need[p->nneed - 1]))
			break;
		p->need = xrealloc(p->need, (p->nneed + 1) * sizeof(*p->need));
		p->need[p->nneed++] = seq;
		return 0;
	}
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
			if (p->dry_run && !p->json)
				printf("delete  %s\n", path);
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
	case MSG_SYNC_PLAN_END:
		if (pe == NULL || sync_plan_end_decode(body, pe) < 0)
			break;
		return 1;
	case MSG_SYNC_DONE:
		if (done == NULL || sync_done_decode(body, done) < 0)
			break;
		return 1;
	case MSG_ERROR:
		if (error_decode(body, &code, &msg) == 0) {
			ferr_set(e, code == PERR_BUSY ? EXIT_REMOTE : code == PERR_PROTOCOL ? EXIT_PROTO : EXIT_REMOTE,
				 code == PERR_BUSY ? "wait for the other push to finish" : NULL,
				 "%s (on %s)", msg, p->s->label);
			free(msg);
			return -1;
		}
		break;
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

static int send_file(struct push *p, uint32_t seq, uint64_t *bytes, struct ferr *e)
{
	struct conn *c = &p->s->c;
	const struct sync_entry *se = &p->e[seq];
	uint8_t b[FRAME_CHUNK];
	int fd = open_beneath(p->rootfd, se->path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		warn_msg("'%s' vanished before it was sent (not pushed)", se->path);
		p->local_errors++;
		return 0;
	}
	uint8_t s4[4] = { (uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8), (uint8_t)seq };
	conn_queue(c, MSG_SYNC_FILE, s4, 4);
	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		conn_queue(c, MSG_SYNC_DATA, b, (size_t)n);
		*bytes += (uint64_t)n;
		p->sent_bytes += (uint64_t)n;
		progress(p, false);
		if (c->out.len > CONN_OUT_HIGH && drain_out(p, CONN_OUT_HIGH / 2, e) < 0) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	conn_queue(c, MSG_SYNC_FILE_END, NULL, 0);
	p->files_sent++;
	progress(p, false);
	return 0;
}

static void save_local_index(struct push *p)
{
	char *dir = target_dir(p->cfg);
	const char *why;
	int err;
	if (dir_private(dir, &why) == 0) {
		index_init(&p->nx);
		for (size_t i = 0; i < p->n; i++) {
			struct index_entry *x = index_append(&p->nx, p->e[i].path, &err);
			if (x == NULL)
				continue;
			x->type = p->e[i].type;
			x->mode = p->e[i].mode;
			x->size = p->e[i].size;
			x->mtime_ns = p->e[i].mtime_ns;
			x->ino = p->ino[i];
			memcpy(x->hash, p->e[i].hash, INDEX_HASH_LEN);
		}
		char *f = xasprintf("%s/push.index", dir);
		(void)index_save(f, &p->nx);
		free(f);
		index_release(&p->nx);
	}
	free(dir);
}

static void push_release(struct push *p)
{
	for (size_t i = 0; i < p->n; i++)
		sync_entry_release(&p->e[i]);
	free(p->e);
	free(p->ino);
	free(p->need);
	index_release(&p->old);
	if (p->rootfd >= 0)
		close(p->rootfd);
}

int cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct push p = { .rootfd = -1 };
	struct session s;
	struct ferr e = { 0 };
	struct scan_stats st;
	struct sync_begin sb = { 0 };
	struct buf b;
	char *err = NULL;
	int c, force = 0, want_progress = -1;
	uint64_t t0 = now_mono_ns(), bytes = 0;

	while ((c = getopt_long(argc, argv, "+nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': p.dry_run = true; break;
		case 'f': force = 1; break;
		case 'j': p.json = true; break;
		case 'q': p.quiet = true; break;
		case 'P': want_progress = 1; break;
		case 'h': cmd_usage("push", 0); return 0;
		default: cmd_usage("push", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("push", "unexpected '%s'", argv[optind]);
	cmd_load_config(&cfg);
	p.cfg = &cfg;
	p.rootfd = open(cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.rootfd < 0)
		die(EXIT_OSERR, "cannot open the project folder '%s': %s", cfg.root, strerror(errno));

	char *tdir = target_dir(&cfg), *ixf = xasprintf("%s/push.index", tdir);
	(void)index_load(ixf, &p.old);
	free(tdir);
	free(ixf);
	if (scan_push_set(&cfg, on_entry, &p, &st, &err) < 0)
		die(EXIT_OSERR, "%s", err);
	p.local_errors += st.errors;

	sb.flags = (force ? SYNC_FORCE : 0) | (p.dry_run ? SYNC_DRY_RUN : 0);
	sb.root = cfg.path;
	const char *dpull[] = { "results" };
	sb.npull = (uint32_t)(cfg.pull.n ? cfg.pull.n : 1);
	sb.pull = cfg.pull.n ? cfg.pull.v : (char **)dpull;
	buf_init(&b, FRAME_MAX);
	sync_begin_encode(&sb, &b);

	/* Signals keep their default: an interrupted push leaves no partial
	 * file (temp + rename), and the next push completes it. */
	struct session_opts so = { 0 };
	if (session_open(&s, &cfg, &so, MSG_SYNC_BEGIN, &b, &e) < 0)
		ferr_die(&e);
	p.s = &s;
	for (size_t i = 0; i < p.n; i++) {
		buf_reset(&b);
		sync_entry_encode(&p.e[i], &b);
		conn_queue(&s.c, MSG_SYNC_ENTRY, b.data, b.len);
		if (s.c.out.len > CONN_OUT_HIGH && drain_out(&p, CONN_OUT_HIGH / 2, &e) < 0)
			ferr_die(&e);
	}
	conn_queue(&s.c, MSG_SYNC_ENTRIES_END, NULL, 0);
	struct sync_plan_end pe = { 0 };
	if (pump_input(&p, true, &pe, NULL, &e) < 0)
		ferr_die(&e);
	int code = 0;
	if (pe.guard && !force) {
		error_msg("this push would delete %u of the %u files on %s", pe.deletes, pe.indexed, s.label);
		hint_msg("if that is what you want (a folder moved?), run `ferry push --force`");
		session_close(&s);
		code = EXIT_FAIL;
		goto out;
	}
	if (p.dry_run) {
		for (size_t i = 0; i < p.nneed; i++)
			if (!p.json)
				printf("send    %s (%llu bytes)\n", p.e[p.need[i]].path, (unsigned long long)p.e[p.need[i]].size);
		session_close(&s);
		if (p.json)
			printf("{\"dry_run\":true,\"send\":%zu,\"delete\":%u,\"conflicts\":%u}\n", p.nneed, p.deletes, p.conflicts);
		else
			printf("dry run: %zu to send, %u to delete, %u conflicts\n", p.nneed, p.deletes, p.conflicts);
		code = p.conflicts || p.local_errors ? EXIT_FAIL : 0;
		goto out;
	}
	/* A progress line on a terminal unless --quiet; --progress forces it. */
	p.progress = want_progress == 1 || (want_progress < 0 && !p.quiet && !p.json && isatty(2));
	for (size_t i = 0; i < p.nneed; i++)
		p.total_bytes += p.e[p.need[i]].size;
	p.t_start = now_mono_ns();
	for (size_t i = 0; i < p.nneed; i++)
		if (send_file(&p, p.need[i], &bytes, &e) < 0)
			ferr_die(&e);
	if (p.nneed)
		progress(&p, true);
	conn_queue(&s.c, MSG_SYNC_COMMIT, NULL, 0);
	struct sync_done done = { 0 };
	if (pump_input(&p, true, NULL, &done, &e) < 0)
		ferr_die(&e);
	session_close(&s);
	save_local_index(&p);

	double secs = (double)(now_mono_ns() - t0) / 1e9;
	if (p.json)
		printf("{\"files\":%zu,\"written\":%u,\"deleted\":%u,\"conflicts\":%u,\"errors\":%zu,"
		       "\"bytes_sent\":%llu,\"seconds\":%.3f}\n", p.n, done.written, done.deleted, p.conflicts,
		       p.local_errors + p.remote_errors, (unsigned long long)bytes, secs);
	else if (!p.quiet)
		printf("pushed %u, deleted %u, %u conflicts (%zu in the push set, %llu bytes sent, %.2f s)\n",
		       done.written, done.deleted, p.conflicts, p.n, (unsigned long long)bytes, secs);
	code = p.disk_full || p.remote_errors ? EXIT_REMOTE : p.conflicts || p.local_errors ? EXIT_FAIL : 0;
	if (p.conflicts && !p.json)
		hint_msg("conflicting files were left as they are; `ferry push --force` overwrites them");
out:
	push_release(&p);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
