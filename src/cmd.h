/*
 * cmd.h - the command table and the work every command shares: usage
 * text, loading the project file, dying with the right exit code.
 */
#ifndef FERRY_CMD_H
#define FERRY_CMD_H

#include <stdbool.h>

#include "config.h"

/* What main() parsed before the command's name, handed to the command:
 * no option lives in a global. */
struct cmd_ctx {
	const char *dir;	/* `ferry -C DIR`, else "." */
};

struct cmd {
	const char *name;
	int (*fn)(const struct cmd_ctx *ctx, int argc, char **argv);
	const char *summary;
	const char *usage;	/* full --help text */
};

const struct cmd *cmd_find(const char *name);
void cmd_list(void);
/* Prints the command's usage to stdout (help) or stderr (error). */
void cmd_usage(const char *name, int to_stderr);
/* Usage error: message, the usage line, exit EXIT_USAGE. */
void cmd_usage_die(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Loads ferry.ini from dir (ctx->dir) or a parent, or exits with
 * EXIT_CONFIG and one clear line. */
void cmd_load_config(struct config *c, const char *dir);
/* The same, except that a ferry.ini whose program keys need `ferry trust`
 * is loaded anyway (`ferry config`, `ferry trust`): *untrusted is then
 * the message to print (caller frees), else NULL. */
void cmd_load_config_any(struct config *c, const char *dir, char **untrusted);
/* A path the user typed (relative to where ferry runs, as git takes
 * them) as a path in the project, checked as any peer path; NULL when it
 * is not inside the project.  The caller frees. */
char *cmd_project_path(const struct config *c, const char *arg);
/* A path given relative to the project root (push/pull --force PATH,
 * pull FOLDER): trailing slashes and a leading "./" dropped.  Not yet
 * checked; the caller frees. */
char *cmd_root_path(const char *arg);

struct session;
struct push_opts {
	char **include;		/* --ignored PATH...: pushed whatever the rules say */
	uint32_t ninclude;
	bool dry_run, force, json, quiet;
	int want_progress;	/* -1 on a terminal, 1 always */
	char **force_paths;	/* with force: overwrite only these (NULL: all) */
	uint32_t nforce;
};
/* A push (cmd-push.c): the exit status.  With keep, a push that succeeds
 * leaves its session open in *keep for more requests. */
int push_run(const struct config *cfg, const struct push_opts *o, struct session *keep);

/* pull --job (cmd-job.c): the job ARG names (an id, a name), with the
 * paths it moved out of its snapshot (*outputs, a line each, or NULL) and
 * its project folder on the server (*root); dies with one line when
 * there is no such job.  Returns its id. */
uint32_t job_outputs_lookup(const struct config *cfg, const char *arg, char **outputs, char **root);

/* The folder of this target's sync state: .ferry/<id of the target>. */
char *sync_target_dir(const struct config *cfg);

int cmd_init(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_config(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_trust(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_exec(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_shell(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_doctor(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_help(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_ls_files(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_push(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_pull(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_jobs(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_logs(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_forward(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_attach(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_kill(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_wait(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_check_ignore(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_status(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_top(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_diff(const struct cmd_ctx *ctx, int argc, char **argv);

#endif
