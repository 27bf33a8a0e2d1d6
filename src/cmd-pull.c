/*
 * cmd-pull.c - `ferry pull`: bring the pull folders (results/, ...) back
 * from the server, without destroying anything changed here.
 *
 * The roles of a push reversed: the agent scans its pull folders and
 * streams the files, this side runs the destination engine (sync-dest.c)
 * beneath the project root.  The agent is a peer like any other: every
 * path it sends is checked, must lie inside a pull folder, and is written
 * without following a symlink; nothing lands outside the pull folders.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "fsx.h"
#include "limits.h"
#include "session.h"
#include "sync-dest.h"
#include "sync-index.h"
#include "sync-scan.h"
#include "sync-wire.h"
#include "util.h"

#include "banned.h"

struct pull {
	struct session *s;
	struct ferr *e;
	const struct config *cfg;
	struct ignore pull_ignore;	/* the project file's pull_ignore */
	struct sync_skipped skipped;	/* what pull_ignore kept on the server */
	struct path_sample deleted;	/* what the plan deletes here */
	struct path_sample forgotten;	/* left out by a rule now: kept here */
	char **job_paths;		/* pull --job: what the job wrote, pulled too */
	uint32_t njob_paths;
	char *job_known;		/* paths earlier job pulls brought (pull.jobs) */
	bool json, dry_run, progress;
	uint32_t conflicts, errors, remote_errors, deletes, disk_full, kept_edits;
	size_t nneed, files_done;
	uint64_t total_bytes, got_bytes, t_start, t_last;
};

static void on_report(void *arg, uint16_t type, uint32_t code, const char *path, const char *msg)
{
	struct pull *p = arg;
	if (type == MSG_SYNC_CONFLICT) {
		p->conflicts++;
		if (!p->json)
			printf("conflict: %s: %s\n", path, msg);
	} else if (type == MSG_SYNC_KEEP) {
		p->kept_edits++;
		if (!p->json)
			printf("kept your local edit of %s (the server's copy did not change)\n", path);
	} else if (type == MSG_SYNC_DELETE) {
		p->deletes++;
		path_sample_add(&p->deleted, path);
		if (p->dry_run && !p->json)
			printf("delete  %s\n", path);
	} else if (code == ENOSPC || code == EDQUOT) {
		p->errors++;
		p->disk_full++;
		error_msg("disk full here while writing '%s'", path);
	} else {
		p->errors++;
		error_msg("cannot write '%s': %s", path, msg);
	}
}

static void on_need(void *arg, const struct sync_entry *e)
{
	struct pull *p = arg;
	p->nneed++;
	p->total_bytes += e->size;
	if (p->dry_run && !p->json)
		printf("receive %s (%llu bytes)\n", e->path, (unsigned long long)e->size);
}

/* Frames from the agent the engine leaves to us: its notices about files
 * it could not read, and its errors. */
static int on_other(void *arg, uint16_t type, struct rd *body)
{
	struct pull *p = arg;
	uint32_t code;
	char *path, *msg;
	if (type == MSG_SYNC_SKIPPED) {
		sync_skipped_release(&p->skipped);
		if (sync_skipped_decode(body, &p->skipped) == 0)
			return 0;
	} else if (type == MSG_SYNC_ERROR && sync_report_decode(body, &code, &path, &msg) == 0) {
		if (code)
			p->remote_errors++;
		if (path[0])
			warn_msg("on %s: cannot read '%s': %s (not pulled)", p->s->label, path, msg);
		else
			warn_msg("on %s: %s", p->s->label, msg);
		free(path);
		free(msg);
		return 0;
	}
	if (type == MSG_ERROR) {
		(void)err_from_peer(body, p->s->label, p->e);
		return -1;
	}
	ferr_set(p->e, EXIT_PROTO, NULL, "unexpected or malformed message 0x%04x from the agent on '%s'", type,
		 p->s->label);
	return -1;
}

static void on_proto_error(void *arg, const char *msg)
{
	struct pull *p = arg;
	ferr_set(p->e, EXIT_PROTO, NULL, "the agent on '%s' broke the protocol: %s", p->s->label, msg);
}

static void on_progress(void *arg, uint64_t bytes, bool file_done)
{
	struct pull *p = arg;
	uint64_t now = now_mono_ns();
	p->got_bytes += bytes;
	p->files_done += file_done;
	if (!p->progress || (now - p->t_last < 100000000u && p->files_done < p->nneed))
		return;
	p->t_last = now;
	double secs = (double)(now - p->t_start) / 1e9;
	double rate = secs > 0 ? (double)p->got_bytes / secs : 0;
	double left = rate > 0 && p->total_bytes > p->got_bytes ? (double)(p->total_bytes - p->got_bytes) / rate : 0;
	char *line = xasprintf("\rpull: %zu/%zu files, %.1f/%.1f MB, %.1f MB/s, ETA %.0f s\033[K%s",
			       p->files_done, p->nneed, (double)p->got_bytes / 1e6, (double)p->total_bytes / 1e6,
			       rate / 1e6, left, p->files_done == p->nneed ? "\n" : "");
	(void)write_all(2, line, strlen(line));
	free(line);
}

/* The folders to pull: those named on the command line (each inside a
 * pull folder), or all of sync.pull. */
static char **pull_folders(const struct config *cfg, int argc, char **argv, uint32_t *n)
{
	static const char *const dflt[] = { "results" };
	size_t np = cfg->pull.n ? cfg->pull.n : 1;
	char *const *pf = cfg->pull.n ? cfg->pull.v : (char *const *)dflt;
	char **v = xcalloc((size_t)argc + np + 1, sizeof(char *));
	*n = 0;
	if (argc == 0) {
		for (size_t i = 0; i < np; i++)
			v[(*n)++] = xstrdup(pf[i]);
		return v;
	}
	for (int i = 0; i < argc; i++) {
		char *a = cmd_root_path(argv[i]);
		bool inside = false;
		for (size_t j = 0; j < np && path_check_rel(a, strlen(a)) == 0; j++) {
			size_t fl = strlen(pf[j]);
			inside |= strncmp(a, pf[j], fl) == 0 && (a[fl] == '\0' || a[fl] == '/');
		}
		if (!inside) {
			error_msg("'%s' is not inside a pull folder", argv[i]);
			hint_msg("the pull folders are set by `pull` in ferry.ini (now: %s%s)", pf[0],
				 np > 1 ? ", ..." : "");
			exit(EXIT_USAGE);
		}
		v[(*n)++] = a;
	}
	return v;
}

/* Is a the same path as b, or below it? */
static bool under_path(const char *a, const char *b)
{
	size_t n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* pull --job: the paths the job wrote (outputs, a line each, from the
 * server: checked as any peer path), or with PATH arguments the part of
 * them under those paths.  The folders to pull, none inside another. */
static char **job_folders(const char *outputs, int argc, char **argv, uint32_t *n)
{
	char *all = xstrdup(outputs ? outputs : ""), *save = NULL;
	size_t cap = 16;
	char **v = xcalloc(cap + 1, sizeof(char *));
	*n = 0;
	for (char *o = strtok_r(all, "\n", &save); o; o = strtok_r(NULL, "\n", &save)) {
		if (path_check_rel(o, strlen(o)) < 0 || under_path(o, FERRY_STATE_DIR))
			continue;
		for (int i = 0; i <= argc; i++) {
			const char *pick = NULL;
			if (argc == 0)
				pick = o;
			else if (i < argc && under_path(argv[i], o))
				pick = argv[i];	/* a part of what the job wrote */
			else if (i < argc && under_path(o, argv[i]))
				pick = o;
			if (pick == NULL)
				continue;
			bool dup = false;
			for (uint32_t k = 0; k < *n && !dup; k++)
				dup = under_path(pick, v[k]);
			if (!dup) {
				if (*n == cap) {
					cap *= 2;
					v = xrealloc(v, (cap + 1) * sizeof(char *));
				}
				v[(*n)++] = xstrdup(pick);
				v[*n] = NULL;
			}
			break;
		}
	}
	/* A folder listed after something in it: the inner one goes. */
	for (uint32_t k = 0; k < *n; k++) {
		for (uint32_t m = 0; m < *n; m++) {
			if (m != k && v[m] && v[k] && under_path(v[m], v[k]) && strcmp(v[m], v[k]) != 0) {
				free(v[m]);
				v[m] = NULL;
			}
		}
	}
	uint32_t w = 0;
	for (uint32_t k = 0; k < *n; k++)
		if (v[k])
			v[w++] = v[k];
	*n = w;
	v[w] = NULL;
	free(all);
	return v;
}

/* An indexed path the server no longer sends though it was not deleted
 * there: pull_ignore now skips it, or its folder is no longer a pull
 * folder.  The file stays here; the index forgets it. */
static bool forget_path(void *arg, const char *path, bool is_dir)
{
	struct pull *p = arg;
	static const char *const dflt[] = { "results" };
	size_t np = p->cfg->pull.n ? p->cfg->pull.n : 1;
	char *const *pf = p->cfg->pull.n ? p->cfg->pull.v : (char *const *)dflt;
	bool pulled = false;
	for (size_t j = 0; j < np && !pulled; j++) {
		size_t fl = strlen(pf[j]);
		pulled = strncmp(path, pf[j], fl) == 0 && (path[fl] == '\0' || path[fl] == '/');
	}
	for (uint32_t j = 0; j < p->njob_paths && !pulled; j++) {
		size_t fl = strlen(p->job_paths[j]);
		pulled = strncmp(path, p->job_paths[j], fl) == 0 && (path[fl] == '\0' || path[fl] == '/');
	}
	if (pulled && !ignore_path(&p->pull_ignore, path, is_dir, NULL))
		return false;
	/* Brought by `pull --job`: not a pull folder's, never forgotten
	 * (nor deleted: out of a plain pull's scope). */
	if (!pulled && p->job_known) {
		char *all = xstrdup(p->job_known), *save = NULL;
		for (char *k = strtok_r(all, "\n", &save); k && !pulled; k = strtok_r(NULL, "\n", &save))
			pulled = under_path(path, k);
		free(all);
		if (pulled)
			return false;
	}
	if (!is_dir)
		path_sample_add(&p->forgotten, path);
	return true;
}

/* The record of local edits kept (sync-dest.h, kept_in/kept_out) after
 * this pull: what the engine recorded, plus the old records outside the
 * folders this pull covered (FOLDER...).  Both are in walk order. */
static void save_kept(const char *file, const struct index *in, const struct index *out, char *const *folders,
		      uint32_t nfolders)
{
	struct index nx;
	size_t i = 0, j = 0;
	index_init(&nx);
	while (i < in->n || j < out->n) {
		const char *a = i < in->n ? index_path(in, &in->e[i]) : NULL;
		const char *b = j < out->n ? index_path(out, &out->e[j]) : NULL;
		int c = a == NULL ? 1 : b == NULL ? -1 : path_cmp(a, b);
		const struct index *from = c <= 0 ? in : out;
		const struct index_entry *e = c <= 0 ? &in->e[i] : &out->e[j];
		bool take = c > 0;
		if (c <= 0) {
			take = c < 0;
			for (uint32_t k = 0; k < nfolders && take; k++) {
				size_t fl = strlen(folders[k]);
				take = !(strncmp(a, folders[k], fl) == 0 && (a[fl] == '\0' || a[fl] == '/'));
			}
			i++;
			if (c == 0) {
				from = out;
				e = &out->e[j++];
				take = true;
			}
		} else {
			j++;
		}
		int err;
		struct index_entry *x = take ? index_append(&nx, index_path(from, e), &err) : NULL;
		if (x) {
			uint32_t off = x->path_off;
			*x = *e;
			x->path_off = off;
		}
	}
	if (nx.n)
		(void)index_save(file, &nx);
	else
		(void)unlink(file);
	index_release(&nx);
}

/* One pull of this target at a time, on this side too. */
static int lock_target(const char *tdir)
{
	char *f = xasprintf("%s/pull.lock", tdir);
	int fd = lock_file_wait(f, SYNC_LOCK_WAIT_MS);
	if (fd == -EWOULDBLOCK)
		die(EXIT_FAIL, "another pull of this target is running");
	if (fd < 0)
		die(EXIT_OSERR, "cannot lock '%s': %s", f, strerror(-fd));
	free(f);
	return fd;
}

int cmd_pull(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "job", required_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct pull p = { 0 };
	struct session s;
	struct ferr e = { 0 };
	struct sync_begin sb = { 0 };
	struct buf b;
	const char *why;
	int c, force = 0, want_progress = -1;
	bool quiet = false;
	const char *job_arg = NULL;
	uint64_t t0 = now_mono_ns();

	while ((c = getopt_long(argc, argv, "+nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': p.dry_run = true; break;
		case 'f': force = 1; break;
		case 'j': p.json = true; break;
		case 'q': quiet = true; break;
		case 'P': want_progress = 1; break;
		case 'J': job_arg = optarg; break;
		case 'h': cmd_usage("pull", 0); return 0;
		default: cmd_usage("pull", 1); return EXIT_USAGE;
		}
	}
	cmd_load_config(&cfg, ctx->dir);
	/* --force PATH...: the pull covers every pull folder and overwrites
	 * only these paths; other conflicts stay conflicts, and the guard
	 * still stands. */
	int nargs = argc - optind;
	char **force_paths = NULL;
	uint32_t nforce = 0;
	if (force && nargs > 0) {
		force_paths = pull_folders(&cfg, nargs, argv + optind, &nforce);
		force = 0;
		nargs = 0;
	}
	if (job_arg && force_paths)
		cmd_usage_die("pull", "--job takes PATHs to narrow it, not --force PATHs (use plain --force)");
	if (job_arg) {
		/* What one job wrote, wherever it wrote it, to the same paths
		 * here, with the usual conflict rules. */
		char *outputs = NULL, *jroot = NULL;
		uint32_t id = job_outputs_lookup(&cfg, job_arg, &outputs, &jroot);
		for (int i = optind; i < argc; i++) {
			size_t l = strlen(argv[i]);
			while (l > 1 && argv[i][l - 1] == '/')
				argv[i][--l] = '\0';
			if (path_check_rel(argv[i], l) < 0)
				cmd_usage_die("pull", "'%s' is not a path in the project", argv[i]);
		}
		p.job_paths = job_folders(outputs, nargs, argv + optind, &p.njob_paths);
		free(outputs);
		free(jroot);
		if (p.njob_paths == 0) {
			if (nargs)
				error_msg("job %u wrote nothing under %s%s outside the pull folders", id, argv[optind],
					  nargs > 1 ? ", ..." : "");
			else
				printf("job %u moved nothing out of its code snapshot; what it wrote in the pull folders "
				       "comes with `ferry pull`\n", id);
			free_words(p.job_paths);
			config_release(&cfg);
			return nargs ? EXIT_FAIL : 0;
		}
		sb.pull = p.job_paths;
		sb.npull = p.njob_paths;
		nargs = (int)p.njob_paths;	/* a pull of some paths: no base for the next */
	} else {
		sb.pull = pull_folders(&cfg, nargs, argv + optind, &sb.npull);
	}
	int rootfd = open(cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(EXIT_OSERR, "cannot open the project folder '%s': %s", cfg.root, strerror(errno));
	char *tdir = sync_target_dir(&cfg);
	if (dir_private(tdir, &why) < 0)
		die(EXIT_OSERR, "cannot use ferry's state folder '%s': %s", tdir, why ? why : strerror(errno));
	int lockfd = lock_target(tdir);
	char *ixfile = xasprintf("%s/pull.index", tdir), *jfile = xasprintf("%s/pull.journal", tdir);
	char *kfile = xasprintf("%s/pull.kept", tdir), *jobsfile = xasprintf("%s/pull.jobs", tdir);
	size_t jlen = 0;
	if (read_file(jobsfile, PULL_JOBS_MAX, &p.job_known, &jlen) < 0)
		p.job_known = NULL;
	/* ssh and the agent start while we load our index. */
	struct session_opts so = { 0 };
	if (session_start(&s, &cfg, &so, &e) < 0)
		ferr_die(&e);

	sb.flags = SYNC_PULL | (force ? SYNC_FORCE : 0) | (p.dry_run ? SYNC_DRY_RUN : 0) |
		   (cfg.kind == TARGET_LOCAL ? SYNC_NO_ZSTD : 0);
	sb.root = cfg.path;
	/* Pull folders come whole, whatever .gitignore says: only the
	 * project file's pull_ignore leaves results on the server. */
	sb.ignore = cfg.pull_ignore.v;
	sb.nignore = (uint32_t)cfg.pull_ignore.n;
	p.cfg = &cfg;
	ignore_init(&p.pull_ignore);
	for (size_t i = 0; i < cfg.pull_ignore.n; i++)
		(void)ignore_add_pattern(&p.pull_ignore, cfg.pull_ignore.v[i], CONFIG_NAME, cfg.line[KEY_PULL_IGNORE]);
	/* Our index of every pull folder, with no pull interrupted since:
	 * the base for a changes-only manifest (sync-dest.h).  Loaded once,
	 * here; the engine takes it over. */
	struct index ix;
	index_init(&ix);
	if (index_load(ixfile, &ix) < 0) {
		index_release(&ix);
		index_init(&ix);	/* none, or unreadable: as if first pull */
	}
	/* Local edits kept by earlier pulls (sync-dest.h). */
	struct index kin, kout;
	index_init(&kin);
	index_init(&kout);
	if (index_load(kfile, &kin) < 0) {
		index_release(&kin);
		index_init(&kin);
	}
	if (nargs == 0 && ix.n && access(jfile, F_OK) < 0 && errno == ENOENT) {
		index_state_id(&ix, sb.base);
		sb.flags |= SYNC_BASE_ID;
	}
	buf_init(&b, FRAME_MAX);
	sync_begin_encode(&sb, &b);

	/* Signals keep their default: an interrupted pull leaves no partial
	 * file (temp + rename), and the next pull completes it. */
	if (session_finish(&s, MSG_SYNC_BEGIN, &b, &e) < 0)
		ferr_die(&e);
	p.s = &s;
	p.e = &e;
	p.progress = want_progress == 1 || (want_progress < 0 && !quiet && !p.json && !p.dry_run && isatty(2));
	p.t_start = now_mono_ns();

	bool changes_only = false;
	struct dest_side side = {
		.c = &s.c, .rootfd = rootfd, .ixfile = ixfile, .jfile = jfile, .flags = sb.flags,
		.base_sent = sb.flags & SYNC_BASE_ID ? sb.base : NULL, .preloaded = &ix, .changes_only = &changes_only,
		.pull = sb.pull, .npull = sb.npull, .pull_side = true, .here = "laptop", .verb = "pull",
		.report = on_report, .other = on_other, .proto_error = on_proto_error, .need = on_need,
		.forget = forget_path, .kept_in = &kin, .kept_out = &kout, .force_paths = force_paths,
		.nforce = nforce,
		.progress = on_progress, .arg = &p,
	};
	struct sync_plan_end pe;
	struct sync_done done;
	bool lost = false;
	if (dest_run(&side, &pe, &done, &lost) < 0) {
		if (lost && e.code == 0)
			session_lost(&s, true, &e);
		ferr_die(&e);
	}
	/* Bytes on the wire, after delta and compression. */
	uint64_t wire_in = s.c.bytes_in, wire_out = s.c.bytes_out;
	session_close(&s);
	if (!p.dry_run && !(pe.guard && !force))
		save_kept(kfile, &kin, &kout, sb.pull, sb.npull);

	int code;
	if (pe.guard && !force) {
		char *names = path_sample_text(&p.deleted);
		error_msg("this pull would delete %u of the %u files ferry put here: %s", pe.deletes, pe.indexed, names);
		hint_msg("they are gone from %s; `ferry pull --dry-run` lists them all; only if they were really "
			 "removed there, `ferry pull --force` deletes them here", s.label);
		free(names);
		code = EXIT_FAIL;
	} else if (p.dry_run) {
		if (p.json)
			printf("{\"dry_run\":true,\"receive\":%u,\"delete\":%u,\"conflicts\":%u,\"skipped\":%u}\n",
			       pe.need, p.deletes, p.conflicts, p.skipped.paths.count);
		else
			printf("dry run: %u to receive, %u to delete, %u conflict%s\n", pe.need, p.deletes, p.conflicts,
			       p.conflicts == 1 ? "" : "s");
		code = p.conflicts || p.remote_errors ? EXIT_FAIL : 0;
	} else {
		double secs = (double)(now_mono_ns() - t0) / 1e9;
		if (p.json)
			printf("{\"written\":%u,\"deleted\":%u,\"conflicts\":%u,\"errors\":%u,\"bytes\":%llu,"
			       "\"bytes_received\":%llu,\"bytes_sent\":%llu,\"seconds\":%.3f,\"manifest\":\"%s\","
			       "\"skipped\":%u,\"forgotten\":%u}\n",
			       done.written, done.deleted, p.conflicts, p.errors + p.remote_errors,
			       (unsigned long long)p.got_bytes, (unsigned long long)wire_in, (unsigned long long)wire_out,
			       secs, changes_only ? "changes" : "full", p.skipped.paths.count, p.forgotten.count);
		else if (!quiet)
			printf("pulled %u, deleted %u, %u conflict%s (%llu bytes received, %.2f s)\n", done.written,
			       done.deleted, p.conflicts, p.conflicts == 1 ? "" : "s", (unsigned long long)wire_in, secs);
		if (p.conflicts && !p.json)
			hint_msg("conflicting files were left as they are; `ferry diff PATH` shows both sides, "
				 "`ferry pull --force PATH...` overwrites those, `ferry pull --force` all of them");
		if (p.forgotten.count && !quiet && !p.json) {
			char *names = path_sample_text(&p.forgotten);
			printf("kept %u file%s here that %s no longer pulled (pull_ignore or pull changed): %s\n",
			       p.forgotten.count, p.forgotten.count == 1 ? "" : "s",
			       p.forgotten.count == 1 ? "is" : "are", names);
			free(names);
		}
		code = p.disk_full || p.errors ? EXIT_OSERR : p.conflicts || p.remote_errors ? EXIT_FAIL : 0;
	}
	/* Never skipped in silence. */
	if (p.skipped.paths.count && !quiet && !p.json) {
		char *names = path_sample_text(&p.skipped.paths);
		uint32_t n = p.skipped.paths.count;
		printf("skipped %u %s by pull_ignore: %s\n", n,
		       !p.skipped.all_files ? (n == 1 ? "entry" : "entries") : n == 1 ? "file" : "files", names);
		free(names);
	}
	index_release(&ix);
	index_release(&kin);
	index_release(&kout);
	/* The paths this job pull brought, for later plain pulls. */
	if (p.njob_paths && !p.dry_run) {
		struct buf jb;
		buf_init(&jb, PULL_JOBS_MAX);
		if (p.job_known)
			buf_put(&jb, p.job_known, strlen(p.job_known));
		for (uint32_t i = 0; i < p.njob_paths; i++) {
			bool known = false;
			char *all = xstrdup(p.job_known ? p.job_known : ""), *save = NULL;
			for (char *k = strtok_r(all, "\n", &save); k && !known; k = strtok_r(NULL, "\n", &save))
				known = strcmp(k, p.job_paths[i]) == 0;
			free(all);
			if (!known && buf_put(&jb, p.job_paths[i], strlen(p.job_paths[i])) == 0)
				buf_put(&jb, "\n", 1);
		}
		(void)write_cache_atomic(jobsfile, jb.data, jb.len, 0600);
		buf_release(&jb);
	}
	free(p.job_known);
	free(jobsfile);
	free(kfile);
	free_words(force_paths);
	ignore_release(&p.pull_ignore);
	sync_skipped_release(&p.skipped);
	path_sample_release(&p.deleted);
	path_sample_release(&p.forgotten);
	free_words(sb.pull);
	free(ixfile);
	free(jfile);
	free(tdir);
	close(lockfd);
	close(rootfd);
	buf_release(&b);
	config_release(&cfg);
	return code;
}
