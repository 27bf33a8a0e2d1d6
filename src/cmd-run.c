/*
 * cmd-run.c - `ferry run`: push as a barrier, then start the job in the
 * same session, with the git commit it ran (probed while the push runs).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd-job.h"
#include "fwd.h"
#include "job-wire.h"
#include "limits.h"

#include "banned.h"

/* ---- run ---- */

/* A command run here (git) whose output is collected later, so it runs
 * while the push does. */
struct probe {
	struct child ch;
	bool started;
};

static void probe_start(struct probe *p, char *const argv[])
{
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_PIPE, .err = SPAWN_NULL };
	p->started = spawn(argv, &o, &p->ch) == 0;
}

/* Its stdout (the first line only with first_line); NULL when it
 * failed. */
static char *probe_finish(struct probe *p, bool first_line)
{
	if (!p->started)
		return NULL;
	struct buf b;
	char chunk[4096];
	ssize_t n;
	buf_init(&b, 1u << 20);
	while ((n = read(p->ch.out, chunk, sizeof(chunk))) > 0 && buf_put(&b, chunk, (size_t)n) == 0)
		;
	int st;
	child_close(&p->ch);
	bool ok = wait_child(p->ch.pid, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	buf_put(&b, "", 1);
	char *s = ok ? xstrdup((char *)b.data) : NULL;
	buf_release(&b);
	if (s && first_line)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

struct git_probe {
	struct probe rev, status;
};

/* Is root inside a git work tree (a .git in it or a parent)?  Without
 * one, git is not run at all. */
static bool in_git_tree(const char *root)
{
	char *d = xstrdup(root);
	bool found = false;
	for (int depth = 0; depth < CONFIG_DIR_DEPTH_MAX && !found; depth++) {
		char *g = xasprintf("%s/.git", d);
		found = access(g, F_OK) == 0;
		free(g);
		char *slash = strrchr(d, '/');
		if (slash == NULL || slash == d)
			break;
		*slash = '\0';
	}
	if (!found && access("/.git", F_OK) == 0)
		found = true;
	free(d);
	return found;
}

static void git_start(struct git_probe *g, const char *root)
{
	char *rev[] = { "git", "-C", (char *)root, "rev-parse", "--verify", "-q", "HEAD", NULL };
	char *st[] = { "git", "-C", (char *)root, "status", "--porcelain", NULL };
	memset(g, 0, sizeof(*g));
	if (!in_git_tree(root))
		return;
	probe_start(&g->rev, rev);
	probe_start(&g->status, st);
}

static void git_finish(struct git_probe *g, char **commit, uint8_t *dirty)
{
	char *c = probe_finish(&g->rev, true), *s = probe_finish(&g->status, false);
	*commit = c && strlen(c) <= 64 ? xstrdup(c) : xstrdup("");
	*dirty = (*commit)[0] == '\0' || s == NULL ? JOB_GIT_UNKNOWN : job_git_state(s);
	free(c);
	free(s);
}

/* What the command line asked for, beside the request itself. */
struct run_opts {
	bool follow, no_push, json, max_mem_set, no_forward;
	const char *shell;
};

static void run_parse(int argc, char **argv, struct job_start_req *q, struct run_opts *ro)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-push", no_argument, NULL, 'P' },
		{ "in-place", no_argument, NULL, 'I' },
		{ "env", required_argument, NULL, 'e' },
		{ "shell", required_argument, NULL, 's' },
		{ "no-login-env", no_argument, NULL, 'L' },
		{ "json", no_argument, NULL, 'j' },
		{ "max-mem", required_argument, NULL, 'M' },
		{ "no-forward", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+n:fe:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (strlen(optarg) > JOB_NAME_MAX || strchr(optarg, '\n') || optarg[0] == '\0')
				cmd_usage_die("run", "a job name is one line of 1 to %d bytes", JOB_NAME_MAX);
			if (job_parse_id(optarg))
				cmd_usage_die("run", "'%s' reads as a job id: a name needs a letter", optarg);
			free(q->name);
			q->name = xstrdup(optarg);
			break;
		case 'f': ro->follow = true; break;
		case 'P': ro->no_push = true; break;
		case 'F': ro->no_forward = true; break;
		case 'I': q->flags |= JOBF_IN_PLACE; break;
		case 'e':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				cmd_usage_die("run", "--env wants K=V, not '%s'", optarg);
			q->env = xrealloc(q->env, (q->envc + 2) * sizeof(char *));
			q->env[q->envc++] = xstrdup(optarg);
			q->env[q->envc] = NULL;
			break;
		case 's': ro->shell = optarg; break;
		case 'L': q->flags |= JOBF_NO_LOGIN_ENV; break;
		case 'j': ro->json = true; break;
		case 'M':
			if (parse_size(optarg, &q->max_mem) < 0 || q->max_mem == 0)
				cmd_usage_die("run", "--max-mem wants a size like 512M or 8G, not '%s'", optarg);
			ro->max_mem_set = true;
			break;
		/* What the options before took goes before the exit: LSan
		 * runs in the tests and counts it (8 bytes at `run -n`). */
		case 'h': job_start_release(q); cmd_usage("run", 0); exit(0);
		default: job_start_release(q); cmd_usage("run", 1); exit(EXIT_USAGE);
		}
	}
	if (ro->shell != NULL && optind != argc)
		cmd_usage_die("run", "--shell takes the whole command as one string; unexpected '%s'", argv[optind]);
	if (ro->shell == NULL && optind == argc)
		cmd_usage_die("run", "missing the command to run");
	if (q->envc > PROTO_ENV_MAX || (size_t)(argc - optind) > PROTO_ARGV_MAX)
		cmd_usage_die("run", "too many arguments (at most %d)", PROTO_ARGV_MAX);
	if (ro->shell) {
		q->flags |= JOBF_SHELL;
		q->argv = xcalloc(2, sizeof(char *));
		q->argv[0] = xstrdup(ro->shell);
		q->argc = 1;
	} else {
		q->argc = (uint32_t)(argc - optind);
		q->argv = xcalloc(q->argc + 1, sizeof(char *));
		for (uint32_t i = 0; i < q->argc; i++)
			q->argv[i] = xstrdup(argv[optind + (int)i]);
	}
	if (q->name == NULL)
		q->name = xstrdup("");
}

/* The rest of the request from ferry.ini and this terminal; a request
 * that could not fit a frame is a usage error before anything happens
 * (the git commit, added later, is at most 64 bytes). */
static void run_request(struct job_start_req *q, const struct run_opts *ro, const struct config *cfg)
{
	static const char *const dpull[] = { "results" };
	struct buf b;

	q->root = xstrdup(cfg->path);
	if (cfg->shared)
		q->flags |= JOBF_SHARED;
	if (!ro->max_mem_set)
		q->max_mem = cfg->max_mem;
	q->min_avail = cfg->min_available;
	q->npull = (uint32_t)(cfg->pull.n ? cfg->pull.n : 1);
	q->pull = xcalloc(q->npull + 1, sizeof(char *));
	for (uint32_t i = 0; i < q->npull; i++)
		q->pull[i] = xstrdup(cfg->pull.n ? cfg->pull.v[i] : dpull[i]);
	term_size(&q->rows, &q->cols);
	buf_init(&b, FRAME_MAX);
	q->git_commit = xstrdup("");
	if (job_start_encode(q, &b) < 0 || b.len + JOB_COMMIT_ROOM > FRAME_MAX)
		cmd_usage_die("run", "the command line is too long (at most %d bytes)", FRAME_MAX - JOB_COMMIT_ROOM);
	buf_release(&b);
	free(q->git_commit);
	q->git_commit = NULL;
}

/* Opens the session (pushing first unless --no-push: the push is the
 * barrier, no job unless it completed; git runs meanwhile), sends the
 * start and returns the job's first record. */
static void run_start(struct session *s, struct job_start_req *q, const struct run_opts *ro,
		      const struct config *cfg, struct job *j)
{
	struct git_probe git;
	struct buf b;

	git_start(&git, cfg->root);
	if (ro->no_push) {
		open_or_die(s, cfg, 0, NULL);
		git_finish(&git, &q->git_commit, &q->git_dirty);
	} else {
		struct push_opts po = { .quiet = true, .want_progress = isatty(2) ? -1 : 0 };
		int code = push_run(cfg, &po, s);
		git_finish(&git, &q->git_commit, &q->git_dirty);
		if (code != 0) {
			error_msg("no job started: the push did not complete");
			exit(code);
		}
	}
	buf_init(&b, FRAME_MAX);
	if (job_start_encode(q, &b) < 0 || b.len > FRAME_MAX)
		cmd_usage_die("run", "the command line is too long (at most %d bytes)", FRAME_MAX);
	conn_queue(&s->c, MSG_JOB_START, b.data, b.len);
	buf_release(&b);
	for (;;) {
		struct rd body;
		uint16_t type = next_or_die(s, &body);
		if (type == MSG_JOB_NOTICE) {
			print_notice(s, &body);
			continue;
		}
		if (type != MSG_JOB_RECORD)
			die(EXIT_PROTO, "unexpected message 0x%04x from the agent on '%s'", type, s->label);
		decode_record_or_die(s, &body, j);
		return;
	}
}

int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct job_start_req q = { 0 };
	struct run_opts ro = { 0 };
	struct config cfg;
	struct session s;
	struct job j;
	int code = 0;

	run_parse(argc, argv, &q, &ro);
	cmd_load_config(&cfg, ctx->dir);
	run_request(&q, &ro, &cfg);
	run_start(&s, &q, &ro, &cfg, &j);
	if (ro.json)
		print_json(&j);
	else if (ro.follow)
		fprintf(stderr, "ferry: job %u started (ferry logs %u)\n", j.id, j.id);	/* stdout is the job's */
	else
		printf("%u\n", j.id);
	fflush(stdout);
	if (job_ended(j.state) && j.exit_code >= 126) {
		/* The command could not be executed: the notice said why. */
		code = j.exit_code;
	} else if (ro.follow) {
		struct buf lb;
		logs_request(&lb, j.id, 0, JOB_LOGS_FOLLOW | JOB_LOGS_AT, 0);
		conn_queue(&s.c, MSG_JOB_LOGS, lb.data, lb.len);
		buf_release(&lb);
		pid_t fp = ro.no_forward || cfg.fwd_off ? 0 : fwd_follow_start(ctx->dir, j.id);
		code = follow_logs(&s, &cfg, j.id, 0);
		fwd_follow_stop(fp);
	} else if (!ro.json && isatty(2)) {
		hint_msg("follow it with `ferry logs -f %u`, stop it with `ferry kill %u`", j.id, j.id);
	}
	session_close(&s);
	job_release(&j);
	job_start_release(&q);
	config_release(&cfg);
	return code;
}
