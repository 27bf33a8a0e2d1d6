/*
 * cmd-push.c - `ferry push`: options, the push (sync_push, sync-push.c),
 * and what it says: conflicts and deletions as they come, a progress
 * line on a terminal, one summary line (or JSON).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "limits.h"
#include "session.h"
#include "sync-push.h"
#include "util.h"

#include "banned.h"

/* What the command edge keeps while the push runs. */
struct out {
	bool json, quiet, dry_run, progress;
	uint64_t t_start, t_last;
};

static void on_unreadable(void *arg, const char *path, const char *msg)
{
	(void)arg;
	warn_msg("cannot read '%s': %s (not pushed)", path, msg);
}

static void on_conflict(void *arg, const char *path, const char *msg)
{
	struct out *o = arg;
	if (!o->json)
		printf("conflict: %s: %s\n", vis(path), vis(msg));
}

static void on_deletion(void *arg, const char *path)
{
	struct out *o = arg;
	if (o->dry_run && !o->json)
		printf("delete  %s\n", vis(path));
}

static void on_write_error(void *arg, const char *label, const char *path, const char *msg, bool disk_full)
{
	(void)arg;
	if (msg == NULL)
		error_msg("cannot write '%s' on %s: changed while it was being sent; push again", path, label);
	else if (disk_full)
		error_msg("disk full on %s while writing '%s'", label, path);
	else
		error_msg("cannot write '%s' on %s: %s", path, label, msg);
}

static void on_again(void *arg, uint32_t n)
{
	struct out *o = arg;
	if (!o->quiet && !o->json)
		warn_msg("%u file%s changed while %s sent; pushing again", n, n == 1 ? "" : "s",
			 n == 1 ? "it was" : "they were");
}

/* The single progress line on stderr: files, bytes, rate, ETA; at most
 * ten updates a second. */
static void on_progress(void *arg, uint64_t sent, uint64_t total, size_t done, size_t files, bool final)
{
	struct out *o = arg;
	uint64_t now = now_mono_ns();
	if (!o->progress || (!final && now - o->t_last < 100000000u))
		return;
	if (o->t_start == 0)
		o->t_start = now;
	o->t_last = now;
	double secs = (double)(now - o->t_start) / 1e9;
	double rate = secs > 0 ? (double)sent / secs : 0;
	double left = rate > 0 && total > sent ? (double)(total - sent) / rate : 0;
	char *line = xasprintf("\rpush: %zu/%zu files, %.1f/%.1f MB, %.1f MB/s, ETA %.0f s\033[K%s", done, files,
			       (double)sent / 1e6, (double)total / 1e6, rate / 1e6, left, final ? "\n" : "");
	(void)write_all(2, line, strlen(line));
	free(line);
}

static void print_kept(const struct sync_push_result *r, const char *verb)
{
	char *names = path_sample_text(&r->kept);
	printf("%s %u file%s on %s that %s no longer in the push set (not deleted there): %s\n", verb, r->kept.count,
	       r->kept.count == 1 ? "" : "s", vis(r->label), r->kept.count == 1 ? "is" : "are", vis(names));
	free(names);
}

static void print_dry_run(const struct out *o, const struct sync_push_result *r)
{
	if (r->kept.count && !o->json)
		print_kept(r, "would keep");
	for (size_t i = 0; i < r->nsends && !o->json; i++)
		printf("send    %s (%llu bytes)\n", vis(r->sends[i].path), (unsigned long long)r->sends[i].size);
	/* Files and symlinks, as push, pull, ls-files and status count. */
	if (o->json)
		printf("{\"dry_run\":true,\"send\":%u,\"delete\":%u,\"conflicts\":%u}\n", r->need, r->deletes,
		       r->conflicts);
	else
		printf("dry run: %u to send, %u to delete, %u conflict%s\n", r->need, r->deletes, r->conflicts,
		       r->conflicts == 1 ? "" : "s");
}

static void print_done(const struct out *o, const struct sync_push_result *r)
{
	double secs = (double)r->ns / 1e9;
	if (o->json)
		printf("{\"files\":%zu,\"written\":%u,\"deleted\":%u,\"conflicts\":%u,\"errors\":%zu,"
		       "\"bytes\":%llu,\"bytes_sent\":%llu,\"bytes_received\":%llu,\"seconds\":%.3f,"
		       "\"manifest\":\"%s\",\"manifest_entries\":%zu,\"kept\":%u}\n", r->files, r->written, r->deleted,
		       r->conflicts, r->errors + r->remote_errors, (unsigned long long)r->bytes,
		       (unsigned long long)r->wire_out, (unsigned long long)r->wire_in, secs,
		       r->changes_only ? "changes" : "full", r->manifest_entries, r->kept.count);
	else if (!o->quiet)
		printf("pushed %u, deleted %u, %u conflict%s (%zu in the push set, %llu bytes sent, %.2f s)\n", r->written,
		       r->deleted, r->conflicts, r->conflicts == 1 ? "" : "s", r->files, (unsigned long long)r->wire_out,
		       secs);
	if (r->kept.count && !o->quiet && !o->json)
		print_kept(r, "kept");
	if (r->conflicts && !o->json)
		hint_msg("conflicting files were left as they are; `ferry diff PATH` shows both sides, "
			 "`ferry push --force PATH...` overwrites those, `ferry push --force` all of them");
}

int push_run(const struct config *cfg, const struct push_opts *po, struct session *keep)
{
	struct out o = { .json = po->json, .quiet = po->quiet, .dry_run = po->dry_run };
	const struct sync_push_opts so = {
		.dry_run = po->dry_run, .force = po->force, .force_paths = po->force_paths, .nforce = po->nforce,
		.include = po->include, .ninclude = po->ninclude,
	};
	const struct sync_push_hooks h = {
		.unreadable = on_unreadable, .conflict = on_conflict, .deletion = on_deletion,
		.write_error = on_write_error, .again = on_again, .progress = on_progress, .arg = &o,
	};
	struct sync_push_result r;
	struct ferr e = { 0 };

	/* A progress line on a terminal unless --quiet; --progress forces it. */
	o.progress = !po->dry_run && (po->want_progress == 1 || (po->want_progress < 0 && !po->quiet && !po->json &&
								  isatty(2)));
	if (sync_push(cfg, &so, &h, &r, keep, &e) < 0) {
		sync_push_result_release(&r);
		ferr_die(&e);
	}
	int code = r.code;
	if (r.guard) {
		char *names = path_sample_text(&r.deleted_paths);
		error_msg("this push would delete %u of the %u files ferry put on %s: %s", r.plan_deletes, r.indexed,
			  r.label, names);
		hint_msg("these were deleted or moved here; `ferry push --dry-run` lists them all; "
			 "only if you really removed them, `ferry push --force` deletes them there");
		free(names);
	} else if (po->dry_run) {
		print_dry_run(&o, &r);
		code = r.conflicts || r.errors ? EXIT_FAIL : 0;
	} else {
		print_done(&o, &r);
	}
	sync_push_result_release(&r);
	return code;
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

