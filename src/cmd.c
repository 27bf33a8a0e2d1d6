/*
 * cmd.c - the command table and shared command-edge helpers.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *cmd_dir = ".";

static const struct cmd cmds[] = {
	{ "init", cmd_init, "write ferry.ini: which server and folder this project uses",
	  "usage: ferry init [--force] HOST[:PATH]\n"
	  "       ferry init [--force] --local DIR\n"
	  "\n"
	  "Writes ferry.ini in the current folder (or -C DIR).\n"
	  "\n"
	  "  HOST[:PATH]   an ssh host alias from ~/.ssh/config, or user@host; PATH is\n"
	  "                the project folder there (default ~/NAME, NAME = this folder)\n"
	  "  --local DIR   no server: run the agent on this machine, in DIR\n"
	  "  --force       overwrite an existing ferry.ini\n" },
	{ "config", cmd_config, "print the effective settings and where each came from",
	  "usage: ferry config\n"
	  "\n"
	  "Prints each setting, its value and its origin (ferry.ini:LINE, an\n"
	  "environment variable, or the default).\n" },
	{ "exec", cmd_exec, "run a command in the project folder on the server",
	  "usage: ferry exec [options] [--] CMD [ARG...]\n"
	  "       ferry exec [options] --shell 'STRING'\n"
	  "\n"
	  "Runs CMD in the project folder on the target.  Arguments arrive exactly as\n"
	  "given (no shell in between); stdout, stderr and stdin are relayed; the exit\n"
	  "code is CMD's (128+N for signal N).  Ctrl-C sends SIGINT to CMD; press it\n"
	  "three times to give up waiting.\n"
	  "\n"
	  "  --shell STRING   run STRING with the login shell on the server\n"
	  "  -e, --env K=V    set an environment variable for CMD (repeatable)\n"
	  "  -n, --no-stdin   give CMD /dev/null as stdin\n"
	  "  -t, --tty        give CMD a terminal (ipython, htop, vim): this one goes\n"
	  "                   raw, keys (Ctrl-C too) reach CMD, the size follows\n"
	  "  --no-login-env   skip the environment of the login shell (conda, pyenv,\n"
	  "                   module load...) and use ssh's plain one\n" },
	{ "shell", cmd_shell, "an interactive login shell in the project folder on the server",
	  "usage: ferry shell [-e K=V]... [--no-login-env]\n"
	  "\n"
	  "Starts your login shell ($SHELL -l) on the server in the project folder,\n"
	  "with a terminal, as `ssh -t HOST 'cd PATH && exec $SHELL -l'` would, over\n"
	  "ferry's connection.  The exit status is the shell's.\n"
	  "\n"
	  "  -e, --env K=V    set an environment variable (repeatable)\n"
	  "  --no-login-env   start from ssh's plain environment\n" },
	{ "doctor", cmd_doctor, "check that the target is reachable and ready",
	  "usage: ferry doctor [--json]\n"
	  "\n"
	  "Checks the project file, the ssh client, reachability, authentication\n"
	  "without a prompt, the agent, the project folder, free disk, clock skew\n"
	  "and the login environment.  Each check prints ok, warn, fail or skip, with\n"
	  "a hint for what to do.  Exit status 1 when a check fails.\n"
	  "\n"
	  "  --json   print the results as one JSON object\n" },
	{ "push", cmd_push, "make the server's copy of the push set equal to this one",
	  "usage: ferry push [--dry-run] [--force] [--json] [--quiet] [--progress]\n"
	  "\n"
	  "Sends new and changed files of the push set (see `ferry ls-files`) and\n"
	  "deletes on the server the files ferry put there that are gone here.  A\n"
	  "file changed on the server since the last push, or there without ferry\n"
	  "having put it there, is a conflict: listed, left alone, exit status 1.\n"
	  "Each file lands complete or not at all.  A push that would delete more\n"
	  "than half of the files ferry put there asks for --force.\n"
	  "\n"
	  "  -n, --dry-run  list what would be sent and deleted, change nothing\n"
	  "  -f, --force    overwrite conflicts; allow mass deletion\n"
	  "  --json         print a JSON summary\n"
	  "  -q, --quiet    no summary line, no progress line\n"
	  "  --progress     a progress line on stderr even when it is not a terminal\n" },
	{ "pull", cmd_pull, "bring the pull folders (results/, ...) back from the server",
	  "usage: ferry pull [--dry-run] [--force] [--json] [--quiet] [--progress] [FOLDER...]\n"
	  "\n"
	  "Brings new and changed files of the pull folders (`pull` in ferry.ini,\n"
	  "default results/) back from the server, and deletes here the files\n"
	  "ferry pulled that are gone there.  FOLDERs, each inside a pull folder,\n"
	  "limit the pull to them.  A file changed here since the last pull, or\n"
	  "here without ferry having put it there, is a conflict: listed, left\n"
	  "alone, exit status 1.  Nothing is written outside the pull folders.\n"
	  "Each file lands complete or not at all.  A pull that would delete more\n"
	  "than half of the files ferry pulled asks for --force.\n"
	  "\n"
	  "  -n, --dry-run  list what would be received and deleted, change nothing\n"
	  "  -f, --force    overwrite conflicts; allow mass deletion\n"
	  "  --json         print a JSON summary\n"
	  "  -q, --quiet    no summary line, no progress line\n"
	  "  --progress     a progress line on stderr even when it is not a terminal\n" },
	{ "run", cmd_run, "start a job on the server that outlives the connection",
	  "usage: ferry run [-n NAME] [-f] [--no-push] [--in-place] [-e K=V]... [--max-mem SIZE] [--json]\n"
	  "                 [--no-login-env] (-- CMD [ARG...] | --shell 'LINE')\n"
	  "\n"
	  "Pushes first (the job starts only if the push completed), then starts CMD\n"
	  "on the server under a supervisor that outlives ssh, the laptop and the\n"
	  "network, with a terminal of its own and the login environment.  The job\n"
	  "runs in a snapshot of the pushed code (later pushes do not change it);\n"
	  "data/, results/ and everything ferry does not push are the live folders.\n"
	  "Prints the job id as soon as the job runs.\n"
	  "\n"
	  "  -n, --name NAME   a name to find the job by\n"
	  "  -f, --follow      follow the output; exit with the job's status\n"
	  "  --no-push         do not push first\n"
	  "  --in-place        run in the live project folder, no snapshot\n"
	  "  -e, --env K=V     set a variable for the job (repeatable)\n"
	  "  --shell 'LINE'    run LINE with the user's shell\n"
	  "  --no-login-env    do not use the login shell's environment\n"
	  "  --max-mem SIZE    stop the job (TERM, then KILL) when its processes use\n"
	  "                    more than SIZE of memory (default: jobs.max_mem)\n"
	  "  --json            print the job record as JSON\n" },
	{ "jobs", cmd_jobs, "list jobs; show, rm or prune them",
	  "usage: ferry jobs [--all] [--json]\n"
	  "       ferry jobs show [--json] ID...\n"
	  "       ferry jobs rm ID...\n"
	  "       ferry jobs prune [--older-than AGE]\n"
	  "\n"
	  "Lists the jobs on the server: id, name, state (running, exited, failed,\n"
	  "killed, lost), exit status, start, duration, peak memory of the job's\n"
	  "process tree, the code it ran (tree hash and laptop git commit) and the\n"
	  "command.  Without --all, finished jobs beyond the last 10 are left out.\n"
	  "rm and prune remove finished jobs with their logs, and code snapshots no\n"
	  "kept job uses; running jobs are refused.\n"
	  "\n"
	  "  -a, --all            every job\n"
	  "  --json               one JSON object per line\n"
	  "  --older-than AGE     prune only jobs that ended AGE ago (30m, 12h, 7d)\n" },
	{ "logs", cmd_logs, "print or follow a job's output",
	  "usage: ferry logs [-f] [--tail N] ID\n"
	  "\n"
	  "Prints the job's output (everything it wrote to its terminal).  With -f,\n"
	  "keeps printing as it comes and ends when the job ends, with the job's exit\n"
	  "status.  A job's log keeps its first 16 MiB and its last 64 MiB; what is\n"
	  "dropped in between is marked.\n"
	  "\n"
	  "  -f, --follow     follow until the job ends\n"
	  "  -n, --tail N     start with the last N lines\n" },
	{ "attach", cmd_attach, "connect this terminal to a running job",
	  "usage: ferry attach ID\n"
	  "\n"
	  "Gives the job's terminal back: what you type reaches the program (a pdb\n"
	  "prompt works), the window size follows yours, recent output is shown\n"
	  "first.  Ctrl-] detaches and leaves the job running.  Several viewers may\n"
	  "attach at once.  When the job ends, attach exits with its status.\n" },
	{ "kill", cmd_kill, "stop a job and everything it started",
	  "usage: ferry kill [-s SIG] [--grace TIME] ID\n"
	  "\n"
	  "Sends SIG (default TERM) to the job's process group and to every process\n"
	  "of its tree; if they are still there after the grace period (default 5s),\n"
	  "KILL.  The job is recorded as killed.\n"
	  "\n"
	  "  -s, --signal SIG   TERM, INT, HUP, QUIT, KILL, USR1, USR2 or a number\n"
	  "  --grace TIME       wait this long before KILL (10s, 1m)\n" },
	{ "wait", cmd_wait, "wait for jobs to end",
	  "usage: ferry wait [--notify] ID...\n"
	  "\n"
	  "Blocks until every job named has ended and prints how each ended.  The\n"
	  "exit status is the first job's own that is not 0 (128+N for signal N).\n"
	  "\n"
	  "  --notify   ring the terminal bell and send a desktop notification\n"
	  "             (notify-send) as each job ends\n" },
	{ "ls-files", cmd_ls_files, "list the files a push sends (the push set)",
	  "usage: ferry ls-files [-z] [--long] [--dirs]\n"
	  "\n"
	  "Lists the push set: files and symlinks under the push folders, minus the\n"
	  "pull folders, .gitignore rules (nested, with negation), sync.ignore in\n"
	  "ferry.ini, .git folders and ferry's own .ferry state.  Symlinks are listed,\n"
	  "never followed; FIFOs, sockets and devices are skipped with a warning.\n"
	  "Exit status 1 when some folder could not be read.\n"
	  "\n"
	  "  -z          end each path with NUL instead of newline\n"
	  "  -l, --long  type (f d l), mode and size before each path\n"
	  "  -d, --dirs  list folders too (with a trailing '/')\n" },
	{ "check-ignore", cmd_check_ignore, "say which rule keeps a path out of the push set",
	  "usage: ferry check-ignore [-v [-n]] PATH...\n"
	  "\n"
	  "Prints each PATH that a push leaves out.  With -v, prints\n"
	  "SOURCE:LINE:PATTERN, a tab, and the path, as `git check-ignore -v` does;\n"
	  "SOURCE is a .gitignore, ferry.ini (sync.ignore, push, pull) or (ferry)\n"
	  "for .git and .ferry, which are never synced.  Exit status 0 if some PATH\n"
	  "is left out, 1 if none is.\n"
	  "\n"
	  "  -v, --verbose        show the deciding rule\n"
	  "  -n, --non-matching   with -v, also print paths that are pushed (\"::\")\n" },
	{ "status", cmd_status, "the server (CPU, memory, disk, GPUs, users, jobs) and the sync state, once",
	  "usage: ferry status [--json]\n"
	  "\n"
	  "Prints the server once: CPU, memory and swap, load, pressure, the project\n"
	  "filesystem's free space and I/O, network rates, every GPU with its\n"
	  "processes (user and ferry job of each), usage per user, your ferry jobs\n"
	  "(running and recent), and the sync state of this project: up to date, N\n"
	  "files differ, or conflicts (from a dry-run push).  Unknown figures show\n"
	  "as '-' (null in JSON), never as 0.\n"
	  "\n"
	  "  --json   print one JSON object (see docs/status.md)\n" },
	{ "top", cmd_top, "live full-screen view of the server, its GPUs, users and your jobs",
	  "usage: ferry top [-d SECS]\n"
	  "\n"
	  "A live view of the server: CPU per core, memory, disk, network, GPUs with\n"
	  "history, users, top processes and your ferry jobs.  The agent sends\n"
	  "compact samples; the screen is drawn here.\n"
	  "\n"
	  "  -d, --delay SECS   seconds between samples (default 1, at least 0.1)\n"
	  "\n"
	  "Keys: q quit; c m g p sort processes by CPU, memory, GPU memory, pid;\n"
	  "k stop one of your running ferry jobs (SIGTERM, after a confirmation).\n" },
	{ "help", cmd_help, "show help for a command",
	  "usage: ferry help [COMMAND]\n" },
};

const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

void cmd_list(void)
{
	printf("usage: ferry [-C DIR] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
		printf("  %-13s %s\n", cmds[i].name, cmds[i].summary);
	printf("\nRun `ferry help COMMAND` for details.  Exit codes: docs/exit-codes.md.\n");
}

void cmd_usage(const char *name, int to_stderr)
{
	const struct cmd *c = cmd_find(name);
	if (c == NULL)
		bug("no command '%s'", name);
	if (to_stderr) {
		/* Only the usage lines, not the whole page. */
		const char *end = strstr(c->usage, "\n\n");
		fprintf(stderr, "%.*s\n", end ? (int)(end - c->usage) : (int)strlen(c->usage), c->usage);
	} else {
		fputs(c->usage, stdout);
	}
}

void cmd_usage_die(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	error_msg("%s", m);
	free(m);
	cmd_usage(name, 1);
	exit(EXIT_USAGE);
}

void cmd_load_config(struct config *c)
{
	char *err = NULL;
	int r = config_load(c, cmd_dir, &err);
	if (r == -ENOENT) {
		error_msg("no ferry.ini in '%s' or any parent folder", cmd_dir);
		hint_msg("run `ferry init HOST:PATH` (or `ferry init --local DIR`) in your project folder");
		exit(EXIT_CONFIG);
	}
	if (r < 0) {
		error_msg("%s", err);
		free(err);
		exit(EXIT_CONFIG);
	}
}

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		cmd_list();
		return 0;
	}
	if (cmd_find(argv[1]) == NULL)
		cmd_usage_die("help", "unknown command '%s'", argv[1]);
	cmd_usage(argv[1], 0);
	return 0;
}
