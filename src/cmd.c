/*
 * cmd.c - the command table and shared command-edge helpers.
 */
#define _GNU_SOURCE
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "sync-scan.h"
#include "util.h"

#include "banned.h"


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
	  "Prints each setting, its value and its origin (ferry.ini:LINE, your\n"
	  "own file ~/.config/ferry/config.ini:LINE, an environment variable, or\n"
	  "the default), and whether a program named in ferry.ini is trusted.\n" },
	{ "trust", cmd_trust, "let this project's ferry.ini run a program here (ssh_command)",
	  "usage: ferry trust\n"
	  "       ferry trust --revoke\n"
	  "       ferry trust --list\n"
	  "\n"
	  "A project's ferry.ini may name a program that ferry runs on this computer\n"
	  "(target.ssh_command).  ferry runs it only once you trusted that very\n"
	  "file: `ferry trust` shows those keys and their values, then records the\n"
	  "project folder and the file's hash in your state folder.  Any change to\n"
	  "ferry.ini asks again.  Your own ~/.config/ferry/config.ini and\n"
	  "FERRY_SSH_COMMAND need no trust (see `ferry help config`).\n"
	  "\n"
	  "  --revoke   forget the trust in this project's ferry.ini\n"
	  "  --list     list the trusted files and what they run\n" },
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
	  "usage: ferry push [--dry-run] [--force [PATH...]] [--json] [--quiet] [--progress]\n"
	  "       ferry push --ignored PATH...\n"
	  "\n"
	  "Sends new and changed files of the push set (see `ferry ls-files`) and\n"
	  "deletes on the server the files ferry put there that are gone here.  A\n"
	  "file changed on the server since the last push, or there without ferry\n"
	  "having put it there, is a conflict: listed, left alone, exit status 1.\n"
	  "Each file lands complete or not at all.  A push that would delete more\n"
	  "than half of the files ferry put there asks for --force.\n"
	  "\n"
	  "  -n, --dry-run  list what would be sent and deleted, change nothing\n"
	  "  -f, --force    overwrite conflicts; allow mass deletion; with PATHs,\n"
	  "                 overwrite only those\n"
	  "  --ignored      push the PATHs too, files or folders, whatever .gitignore\n"
	  "                 or sync.ignore say (a dataset git does not keep); later\n"
	  "                 pushes leave them on the server\n"
	  "  --json         print a JSON summary\n"
	  "  -q, --quiet    no summary line, no progress line\n"
	  "  --progress     a progress line on stderr even when it is not a terminal\n" },
	{ "pull", cmd_pull, "bring the pull folders (results/, ...) back from the server",
	  "usage: ferry pull [--dry-run] [--json] [--quiet] [--progress] [FOLDER...]\n"
	  "       ferry pull --force [PATH...]\n"
	  "       ferry pull --job JOB [PATH...]\n"
	  "\n"
	  "Brings new and changed files of the pull folders (`pull` in ferry.ini,\n"
	  "default results/) back from the server, and deletes here the files\n"
	  "ferry pulled that are gone there; .gitignore does not apply, only\n"
	  "pull_ignore in ferry.ini.  FOLDERs, each inside a pull folder, limit\n"
	  "the pull to them.  A file changed on both sides since the last pull,\n"
	  "or here without ferry having put it there, is a conflict: listed, left\n"
	  "alone, exit status 1 (an edit made only here is kept).  Nothing is\n"
	  "written outside the pull folders.\n"
	  "Each file lands complete or not at all.  A pull that would delete more\n"
	  "than half of the files ferry pulled asks for --force.\n"
	  "\n"
	  "  -n, --dry-run  list what would be received and deleted, change nothing\n"
	  "  -f, --force    overwrite conflicts; allow mass deletion; with PATHs,\n"
	  "                 overwrite only those\n"
	  "  --job JOB      what that job (an id or a name) wrote outside the pull\n"
	  "                 folders (outputs/, wandb/, a log, a file beside its code:\n"
	  "                 `ferry jobs show JOB` lists them), to the same paths\n"
	  "                 here; PATHs narrow it\n"
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
	  "  -f, --follow      follow the output; exit with the job's status (the\n"
	  "                    ports it listens on are forwarded here meanwhile)\n"
	  "  --no-forward      with -f: do not forward the job's ports\n"
	  "  --no-push         do not push first\n"
	  "  --in-place        run in the live project folder, no snapshot\n"
	  "  -e, --env K=V     set a variable for the job (repeatable)\n"
	  "  --shell 'LINE'    run LINE with the user's shell\n"
	  "  --no-login-env    do not use the login shell's environment\n"
	  "  --max-mem SIZE    stop the job (TERM, then KILL) when its processes use\n"
	  "                    more than SIZE of memory (default: jobs.max_mem)\n"
	  "  --json            print the job record as JSON\n" },
	{ "jobs", cmd_jobs, "list jobs; show, rm or prune them",
	  "usage: ferry jobs [--all] [--last N] [--json]\n"
	  "       ferry jobs show [--json] [JOB...]\n"
	  "       ferry jobs rm JOB...\n"
	  "       ferry jobs prune [--all] [--older-than AGE] [--yes]\n"
	  "\n"
	  "Lists this project's jobs on the server: id, name, state (running, exited,\n"
	  "failed, killed, lost), exit status, start, duration, peak memory of the\n"
	  "job's process tree, the code it ran (tree hash and laptop git commit,\n"
	  "+dirty or +untracked) and the command: the running ones and the last 10\n"
	  "that ended.  --all lists every job of every project of yours, with its\n"
	  "project.  JOB is an id or a name (this project's newest job of that\n"
	  "name); show without one shows the latest.  rm and prune remove finished\n"
	  "jobs with their logs, and code snapshots no kept job uses; running jobs\n"
	  "are refused.  prune asks first (on a terminal; else it wants --yes).\n"
	  "\n"
	  "  -a, --all            every project's jobs, every one (prune: every project's)\n"
	  "  -n, --last N         the last N finished jobs (default 10, 0: all)\n"
	  "  --json               one JSON object per line\n"
	  "  --older-than AGE     prune only jobs that ended AGE ago (30m, 12h, 7d, 2w)\n"
	  "  -y, --yes            prune without asking\n" },
	{ "logs", cmd_logs, "print or follow a job's output",
	  "usage: ferry logs [-f] [--tail N] [JOB]\n"
	  "\n"
	  "Prints the job's output (everything it wrote to its terminal).  With -f,\n"
	  "keeps printing as it comes and ends when the job ends, with the job's exit\n"
	  "status.  A job's log keeps its first 16 MiB and its last 64 MiB; what is\n"
	  "dropped in between is marked.  JOB is an id or a name; none: this\n"
	  "project's latest job.\n"
	  "\n"
	  "  -f, --follow     follow until the job ends (and forward the ports it\n"
	  "                   listens on meanwhile, as `ferry forward` does)\n"
	  "  -n, --tail N     start with the last N lines\n"
	  "  --no-forward     with -f: do not forward the job's ports\n" },
	{ "forward", cmd_forward, "forward ports of the server (and of your jobs) to this laptop",
	  "usage: ferry forward [--bind ADDR] [--job JOB] [--no-auto] [SPEC...]\n"
	  "       ferry forward --list [--json]\n"
	  "\n"
	  "Carries TCP connections from this laptop to the server over ferry's own\n"
	  "connection (no ssh -L: it works where the server forbids ssh forwarding),\n"
	  "until Ctrl-C.  With no SPEC, forwards every port your running jobs listen\n"
	  "on, as they open them, and prints the URLs they print (Jupyter's token\n"
	  "and all) with this laptop's port in them.  A taken local port gets the\n"
	  "next free one.  Only 127.0.0.1 and ::1 are bound here unless --bind says.\n"
	  "\n"
	  "  SPEC: PORT                 this port, to the server's localhost:PORT\n"
	  "        LOCAL:PORT           LOCAL here, to the server's localhost:PORT\n"
	  "        [LOCAL:]HOST:PORT    to HOST:PORT, connected to from the server\n"
	  "        LOCAL:/PATH          to a Unix socket on the server\n"
	  "  --job JOB        that job's ports (with SPECs: as well as them)\n"
	  "  --no-auto        only the SPECs, not the jobs' ports\n"
	  "  --bind ADDR      the SPECs listen on ADDR here (0.0.0.0: every interface);\n"
	  "                   the jobs' ports stay on loopback\n"
	  "  --list           the live forwards of this laptop and their traffic\n"
	  "  --json           with --list: one JSON object a forward\n"
	  "\n"
	  "[forward] in ferry.ini: auto = off, skip = PORTS, ports = PORTS (always\n"
	  "forwarded); see docs/forward.md.\n" },
	{ "attach", cmd_attach, "connect this terminal to a running job",
	  "usage: ferry attach [JOB]\n"
	  "\n"
	  "Gives the job's terminal back: what you type reaches the program (a pdb\n"
	  "prompt works), the window size follows yours, recent output is shown\n"
	  "first.  Ctrl-] detaches and leaves the job running.  Several viewers may\n"
	  "attach at once.  When the job ends, attach exits with its status.  JOB\n"
	  "is an id or a name; none: this project's latest running job.  The ports\n"
	  "the job listens on are forwarded here meanwhile (docs/forward.md).\n"
	  "\n"
	  "  --no-forward     do not forward the job's ports\n" },
	{ "kill", cmd_kill, "stop a job and everything it started",
	  "usage: ferry kill [-s SIG] [--grace TIME] [JOB]\n"
	  "\n"
	  "Sends SIG (default TERM) to the job's process group and to every process\n"
	  "of its tree; if they are still there after the grace period (default 5s),\n"
	  "KILL.  The job is recorded as killed.  JOB is an id or a name (two\n"
	  "running jobs of one name: give the id); none: this project's latest\n"
	  "running job, after asking on the terminal (a script must name it).\n"
	  "\n"
	  "  -s, --signal SIG   TERM, INT, HUP, QUIT, KILL, USR1, USR2 or a number\n"
	  "  --grace TIME       wait this long before KILL (10s, 1m)\n" },
	{ "wait", cmd_wait, "wait for jobs to end",
	  "usage: ferry wait [--notify] [JOB...]\n"
	  "\n"
	  "Blocks until every job named has ended and prints how each ended.  The\n"
	  "exit status is the first job's own that is not 0 (128+N for signal N).\n"
	  "JOB is an id or a name; none: this project's latest job.\n"
	  "\n"
	  "  --notify   ring the terminal bell and send a desktop notification\n"
	  "             (notify-send) as each job ends\n" },
	{ "ls-files", cmd_ls_files, "list the files a push sends (the push set)",
	  "usage: ferry ls-files [-z] [--long] [--dirs]\n"
	  "\n"
	  "Lists the push set: files and symlinks under the push folders, minus the\n"
	  "pull folders, .gitignore rules (nested, with negation; a file git tracks\n"
	  "is never ignored), sync.ignore in\n"
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
	  "for .git, .ferry and ferry.ini, which are never synced; (git) for a tracked file,\n"
	  "pushed whatever .gitignore says.  A path in a pull folder is a result,\n"
	  "or names the pull_ignore rule that skips it.  Exit status 0 if some PATH\n"
	  "is left out of the push set, 1 if none is.\n"
	  "\n"
	  "  -v, --verbose        show the deciding rule\n"
	  "  -n, --non-matching   with -v, also print paths that are pushed (\"::\")\n" },
	{ "diff", cmd_diff, "compare the server's copy of files with yours",
	  "usage: ferry diff PATH...\n"
	  "\n"
	  "Shows, as `diff -u`, how the server's copy of each PATH (a path in the\n"
	  "project, as push and pull print a conflict's) differs from yours: the\n"
	  "server's lines are '-', yours '+'.  A file on one side only is shown\n"
	  "against nothing.  Then keep yours with `ferry push --force PATH` or\n"
	  "take the server's with `ferry pull --force PATH`.  Exit status 0 when\n"
	  "every file is the same, 1 when some differ, 2 on trouble.\n" },
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
	  "usage: ferry help [COMMAND]\n"
	  "\n"
	  "Without COMMAND, lists the commands; with one, shows its help (the same\n"
	  "as `ferry COMMAND --help`).\n" },
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
	/* A subcommand ("jobs show") shows its command's usage: the table
	 * has one entry per command, and a name no entry has is ferry's bug,
	 * never the user's (an empty job name once aborted here). */
	size_t n = strcspn(name, " ");
	const struct cmd *c = NULL;
	for (size_t i = 0; i < ARRAY_LEN(cmds) && c == NULL; i++)
		if (strlen(cmds[i].name) == n && strncmp(cmds[i].name, name, n) == 0)
			c = &cmds[i];
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

/* ferry's state folder at the project root, made before anything is put
 * in it (the push and pull indexes, per target), with a .gitignore of
 * "*": git then never sees it, and a clean work tree is recorded clean
 * by `ferry run` (it was "?? .ferry/", dirty, after the first push).
 * Best effort: a read-only project works without it. */
static void state_dir_prepare(const char *root)
{
	char *dir = xasprintf("%s/%s", root, FERRY_STATE_DIR), *gi = xasprintf("%s/.gitignore", dir);
	struct stat st;
	if ((mkdir(dir, 0700) == 0 || errno == EEXIST) && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid()) {
		int fd = open(gi, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			(void)write_all(fd, "*\n", 2);
			close(fd);
		}
	}
	free(gi);
	free(dir);
}

void cmd_load_config(struct config *c, const char *dir)
{
	cmd_load_config_any(c, dir, NULL);
}

void cmd_load_config_any(struct config *c, const char *dir, char **untrusted)
{
	char *err = NULL;
	int r = config_load(c, dir, &err);
	if (r == -EACCES && untrusted != NULL) {
		*untrusted = err;
		r = 0;
	} else if (untrusted != NULL) {
		*untrusted = NULL;
	}
	if (r == -ENOENT) {
		error_msg("no ferry.ini in '%s' or any parent folder", dir);
		hint_msg("run `ferry init HOST:PATH` (or `ferry init --local DIR`) in your project folder");
		exit(EXIT_CONFIG);
	}
	if (r < 0) {
		error_msg("%s", err);
		if (r == -EACCES)
			hint_msg("%s", CONFIG_TRUST_HINT);
		free(err);
		config_release(c);
		exit(EXIT_CONFIG);
	}
	state_dir_prepare(c->root);
}

char *cmd_project_path(const struct config *c, const char *arg)
{
	char *abs = path_absolute(arg), *rel = NULL;
	size_t n = strlen(c->root);
	if (strncmp(abs, c->root, n) == 0 && abs[n] == '/' && abs[n + 1] &&
	    path_check_rel(abs + n + 1, strlen(abs + n + 1)) == 0)
		rel = xstrdup(abs + n + 1);
	free(abs);
	return rel;
}

char *cmd_root_path(const char *arg)
{
	char *a = xstrdup(arg);
	size_t l = strlen(a);
	while (l > 1 && a[l - 1] == '/')
		a[--l] = '\0';
	if (strncmp(a, "./", 2) == 0)
		memmove(a, a + 2, strlen(a + 2) + 1);
	return a;
}

int cmd_help(const struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		cmd_list();
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cmd_usage("help", 0);
		return 0;
	}
	if (cmd_find(argv[1]) == NULL)
		cmd_usage_die("help", "unknown command '%s'", argv[1]);
	cmd_usage(argv[1], 0);
	return 0;
}
