/*
 * cmd-pull.c - `ferry pull`: options, the pull (sync_pull, sync-pull.c),
 * and what it says: conflicts, kept edits and deletions as they come, a
 * progress line on a terminal, one summary line (or JSON).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "limits.h"
#include "session.h"
#include "sync-pull.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"

/* What the command edge keeps while the pull runs. */
struct out {
	bool json, dry_run, progress;
	size_t nneed, files_done;
	uint64_t total_bytes, got_bytes, t_start, t_last;
};

static void on_report(void *arg, uint16_t type, const char *path, const char *msg, bool disk_full)
{
	struct out *o = arg;
	if (type == MSG_SYNC_CONFLICT) {
		if (!o->json)
			printf("conflict: %s: %s\n", vis(path), vis(msg));
	} else if (type == MSG_SYNC_KEEP) {
		if (!o->json)
			printf("kept your local edit of %s (the server's copy did not change)\n", vis(path));
	} else if (type == MSG_SYNC_DELETE) {
		if (o->dry_run && !o->json)
			printf("delete  %s\n", vis(path));
	} else if (disk_full) {
		error_msg("disk full here while writing '%s'", path);
	} else {
		error_msg("cannot write '%s': %s", path, msg);
	}
}

static void on_need(void *arg, const struct sync_entry *e)
{
	struct out *o = arg;
	o->nneed++;
	o->total_bytes += e->size;
	if (o->dry_run && !o->json)
		printf("receive %s (%llu bytes)\n", vis(e->path), (unsigned long long)e->size);
}

static void on_notice(void *arg, const char *label, const char *path, const char *msg)
{
	(void)arg;
	if (path[0])
		warn_msg("on %s: cannot read '%s': %s (not pulled)", label, path, msg);
	else
		warn_msg("on %s: %s", label, msg);
}

static void on_progress(void *arg, uint64_t bytes, bool file_done)
{
	struct out *p = arg;
	uint64_t now = now_mono_ns();
	if (p->t_start == 0)
		p->t_start = now;
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
		if (path_check_rel(o, strlen(o)) < 0 || sync_path_under(o, FERRY_STATE_DIR))
			continue;
		for (int i = 0; i <= argc; i++) {
			const char *pick = NULL;
			if (argc == 0)
				pick = o;
			else if (i < argc && sync_path_under(argv[i], o))
				pick = argv[i];	/* a part of what the job wrote */
			else if (i < argc && sync_path_under(o, argv[i]))
				pick = o;
			if (pick == NULL)
				continue;
			bool dup = false;
			for (uint32_t k = 0; k < *n && !dup; k++)
				dup = sync_path_under(pick, v[k]);
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
			if (m != k && v[m] && v[k] && sync_path_under(v[m], v[k]) && strcmp(v[m], v[k]) != 0) {
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

/* What the pull came to, said; the exit status. */
static int print_result(const struct out *o, const struct sync_pull_result *r, bool quiet, uint64_t t0)
{
	int code;
	if (r->guard) {
		char *names = path_sample_text(&r->deleted);
		error_msg("this pull would delete %u of the %u files ferry put here: %s", r->pe.deletes, r->pe.indexed,
			  names);
		hint_msg("they are gone from %s; `ferry pull --dry-run` lists them all; only if they were really "
			 "removed there, `ferry pull --force` deletes them here", r->label);
		free(names);
		code = EXIT_FAIL;
	} else if (o->dry_run) {
		if (o->json)
			printf("{\"dry_run\":true,\"receive\":%u,\"delete\":%u,\"conflicts\":%u,\"skipped\":%u}\n",
			       r->pe.need, r->deletes, r->conflicts, r->skipped.paths.count);
		else
			printf("dry run: %u to receive, %u to delete, %u conflict%s\n", r->pe.need, r->deletes,
			       r->conflicts, r->conflicts == 1 ? "" : "s");
		code = r->conflicts || r->remote_errors ? EXIT_FAIL : 0;
	} else {
		double secs = (double)(now_mono_ns() - t0) / 1e9;
		if (o->json)
			printf("{\"written\":%u,\"deleted\":%u,\"conflicts\":%u,\"errors\":%u,\"bytes\":%llu,"
			       "\"bytes_received\":%llu,\"bytes_sent\":%llu,\"seconds\":%.3f,\"manifest\":\"%s\","
			       "\"skipped\":%u,\"forgotten\":%u}\n",
			       r->done.written, r->done.deleted, r->conflicts, r->errors + r->remote_errors,
			       (unsigned long long)r->bytes, (unsigned long long)r->wire_in, (unsigned long long)r->wire_out,
			       secs, r->changes_only ? "changes" : "full", r->skipped.paths.count, r->forgotten.count);
		else if (!quiet)
			printf("pulled %u, deleted %u, %u conflict%s (%llu bytes received, %.2f s)\n", r->done.written,
			       r->done.deleted, r->conflicts, r->conflicts == 1 ? "" : "s", (unsigned long long)r->wire_in,
			       secs);
		if (r->conflicts && !o->json)
			hint_msg("conflicting files were left as they are; `ferry diff PATH` shows both sides, "
				 "`ferry pull --force PATH...` overwrites those, `ferry pull --force` all of them");
		if (r->forgotten.count && !quiet && !o->json) {
			char *names = path_sample_text(&r->forgotten);
			printf("kept %u file%s here that %s no longer pulled (pull_ignore or pull changed): %s\n",
			       r->forgotten.count, r->forgotten.count == 1 ? "" : "s",
			       r->forgotten.count == 1 ? "is" : "are", vis(names));
			free(names);
		}
		code = r->disk_full || r->errors ? EXIT_OSERR : r->conflicts || r->remote_errors ? EXIT_FAIL : 0;
	}
	/* Never skipped in silence. */
	if (r->skipped.paths.count && !quiet && !o->json) {
		char *names = path_sample_text(&r->skipped.paths);
		uint32_t n = r->skipped.paths.count;
		printf("skipped %u %s by pull_ignore: %s\n", n,
		       !r->skipped.all_files ? (n == 1 ? "entry" : "entries") : n == 1 ? "file" : "files", vis(names));
		free(names);
	}
	return code;
}

/* pull --job ARG [PATH...]: what one job wrote, wherever it wrote it,
 * to the same paths here, with the usual conflict rules.  The folders,
 * or NULL when there is nothing to pull (said; *code set). */
static char **job_pull_folders(const struct config *cfg, const char *job_arg, int nargs, char **args,
			       uint32_t *n, int *code)
{
	char *outputs = NULL, *jroot = NULL;
	uint32_t id = job_outputs_lookup(cfg, job_arg, &outputs, &jroot);
	for (int i = 0; i < nargs; i++) {
		size_t l = strlen(args[i]);
		while (l > 1 && args[i][l - 1] == '/')
			args[i][--l] = '\0';
		if (path_check_rel(args[i], l) < 0)
			cmd_usage_die("pull", "'%s' is not a path in the project", args[i]);
	}
	char **v = job_folders(outputs, nargs, args, n);
	free(outputs);
	free(jroot);
	if (*n)
		return v;
	if (nargs)
		error_msg("job %u wrote nothing under %s%s outside the pull folders", id, args[0], nargs > 1 ? ", ..." : "");
	else
		printf("job %u moved nothing out of its code snapshot; what it wrote in the pull folders "
		       "comes with `ferry pull`\n", id);
	free_words(v);
	*code = nargs ? EXIT_FAIL : 0;
	return NULL;
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
	struct out o = { 0 };
	struct sync_pull_opts po = { 0 };
	int c, want_progress = -1;
	bool quiet = false;
	const char *job_arg = NULL;
	uint64_t t0 = now_mono_ns();

	while ((c = getopt_long(argc, argv, "+nfqh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': po.dry_run = true; break;
		case 'f': po.force = true; break;
		case 'j': o.json = true; break;
		case 'q': quiet = true; break;
		case 'P': want_progress = 1; break;
		case 'J': job_arg = optarg; break;
		case 'h': cmd_usage("pull", 0); return 0;
		default: cmd_usage("pull", 1); return EXIT_USAGE;
		}
	}
	o.dry_run = po.dry_run;
	cmd_load_config(&cfg, ctx->dir);
	/* --force PATH...: the pull covers every pull folder and overwrites
	 * only these paths; other conflicts stay conflicts, and the guard
	 * still stands. */
	int nargs = argc - optind;
	char **force_paths = NULL, **folders;
	if (po.force && nargs > 0) {
		force_paths = pull_folders(&cfg, nargs, argv + optind, &po.nforce);
		po.force = false;
		nargs = 0;
	}
	if (job_arg && force_paths)
		cmd_usage_die("pull", "--job takes PATHs to narrow it, not --force PATHs (use plain --force)");
	if (job_arg) {
		folders = job_pull_folders(&cfg, job_arg, nargs, argv + optind, &po.nfolders, &c);
		if (folders == NULL) {
			config_release(&cfg);
			return c;
		}
		po.job = true;
	} else {
		folders = pull_folders(&cfg, nargs, argv + optind, &po.nfolders);
		po.whole = nargs == 0;
	}
	po.folders = folders;
	po.force_paths = force_paths;
	o.progress = want_progress == 1 || (want_progress < 0 && !quiet && !o.json && !po.dry_run && isatty(2));
	const struct sync_pull_hooks h = {
		.report = on_report, .need = on_need, .notice = on_notice, .progress = on_progress, .arg = &o,
	};
	struct sync_pull_result r;
	struct ferr e = { 0 };
	if (sync_pull(&cfg, &po, &h, &r, &e) < 0) {
		sync_pull_result_release(&r);
		free_words(folders);
		free_words(force_paths);
		config_release(&cfg);
		ferr_die(&e);
	}
	int code = print_result(&o, &r, quiet, t0);
	sync_pull_result_release(&r);
	free_words(folders);
	free_words(force_paths);
	config_release(&cfg);
	return code;
}
