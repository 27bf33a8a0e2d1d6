/*
 * session.c - start an agent and shake hands with it.
 *
 * ssh target: `ssh HOST 'exec sh -c BOOT ferry-boot ID DIR'` through one
 * ControlMaster per host.  BOOT execs the agent of this exact build if it
 * is installed, else prints one FERRY-BOOT line saying what the host is;
 * we then upload ourselves (second ssh, over the same master), verify,
 * and start again.  The agent announces itself with PROTO_PREAMBLE; what a
 * chatty ~/.bashrc prints before it is skipped (and counted).
 *
 * local target: the same binary as a child over two pipes.
 *
 * ssh runs in a process group of its own, so the terminal's Ctrl-C, Ctrl-\
 * and Ctrl-Z reach only ferry, which forwards them to the remote command.
 * ssh may still have to ask on /dev/tty (password, passphrase, an unknown
 * host key), and a background group that uses the terminal is stopped
 * (SIGTTOU, SIGTTIN): while connecting, ferry watches for that and then
 * lends ssh's group the foreground, as a shell does for a job, and takes
 * it back as soon as the agent answers or ssh ends.
 *
 * Every failure ends up in struct ferr with the exit code of its class;
 * ssh's own diagnostics (the tail of its stderr) decide between refused,
 * unresolvable, auth and host key.
 */
#define _GNU_SOURCE
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-bundle.h"
#include "ev.h"
#include "fsx.h"
#include "limits.h"
#include "platform.h"
#include "sig.h"
#include "util.h"

#include "banned.h"

/* Runs in the user's login shell as `sh -c BOOT ferry-boot ID DIR`.
 *
 * DIR is agent_dir from ferry.ini; without one, the candidate folders
 * are tried in order (docs/agents.md): the cache folder in the home, then
 * the runtime folder, /dev/shm, $TMPDIR and /var/tmp, for a home that is
 * mounted noexec, full or over quota.  The warm path looks for ID in each
 * with builtins only (no process): a `[ -d ]` each.
 *
 * Each candidate is resolved once, by `cd -P`: from then on the shell's
 * working directory is that folder itself, whatever another user does to
 * the path that led there (a symlink flipped in a shared /data/lab/...),
 * and everything else is relative to it.  It must be ours, and is made
 * private (0700) before anything in it is trusted: no one else can then
 * add, remove or rename its entries, so ID/ferry cannot change between
 * the checks and the exec.  A folder in /tmp another user made first is
 * theirs: skipped, never used.  CDPATH would make `cd` search elsewhere
 * (and print), so it goes.  The agent is told the login folder ($PWD
 * before the cd) and goes back there: the commands it runs and the
 * startup files it reads see the folder ssh gave them. */
static const char boot_dir_script[] =
	"unset CDPATH; h=$PWD; id=$1; ad=$2; u=${USER:-$(id -u)}; "
	"tilde() { case $c in \"~/\"*) c=$HOME/${c#\"~/\"};; \"~\") c=$HOME;; esac; }; "
	"each() { if [ -n \"$ad\" ]; then $1 \"$ad\"; else "
	"$1 \"${XDG_CACHE_HOME:-$HOME/.cache}/ferry/agent\"; "
	"[ -z \"$XDG_RUNTIME_DIR\" ] || $1 \"$XDG_RUNTIME_DIR/ferry/agent\"; "
	"$1 \"/dev/shm/ferry-agent-$u\" t; $1 \"${TMPDIR:-/tmp}/ferry-agent-$u\" t; $1 \"/var/tmp/ferry-agent-$u\" t; fi; }; "
	"back() { cd -- \"$h\" 2>/dev/null || cd /; }; ";
/* An agent id no folder has: the boot script then says what the host
 * is (ids are VERSION-HEX). */
#define BOOT_PROBE_ID "probe"
static const char boot_run_script[] =
	"run() { c=$1; tilde; [ -d \"$c/$id\" ] || return 0; [ \"$2\" != t ] || [ ! -h \"$c\" ] || return 0; "
	"if cd -P -- \"$c\" 2>/dev/null && [ -O . ] && chmod 700 . 2>/dev/null && "
	"[ -d \"$id\" ] && [ ! -h \"$id\" ] && cd -P -- \"$id\" 2>/dev/null && [ -O . ] && "
	"[ -f ferry ] && [ ! -h ferry ] && [ -O ferry ] && [ -x ferry ]; then exec ./ferry agent --cwd \"$h\"; fi; back; }; "
	"each run; c=${ad:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/agent}; tilde; "
	"printf 'FERRY-BOOT need %s %s %s\\n' \"$(uname -s)\" \"$(uname -m)\" \"$c\"";
/* `sh -c INSTALL ferry-boot ID DIR CKSUM SKIP`, the agent on stdin: into
 * the first candidate (after the first SKIP) where it can be written,
 * checked and run.  Everything is relative to the candidate once
 * resolved (`cd -P`), never a path looked up again.  The upload is read
 * once, into the first folder that takes it, held open on fd 3, and
 * copied from that open file to the next ones; a write that fails
 * half way (quota) has lost the rest of stdin: "again K" asks the client
 * to send it again, to the candidates after the K-th.  Every candidate
 * given up says why ("skip DIR REASON"); fields are tab-separated.  An ID
 * entry that is not a folder of ours (a symlink, another user's folder,
 * left from before DIR was private) is refused, not followed.  The
 * shared candidates (/dev/shm, $TMPDIR, /var/tmp) must not be symlinks:
 * one planted there by another user would lead to a folder of ours
 * elsewhere, which the chmod would then close. */
static const char boot_install_script[] =
	"sum=$3; sk=${4:-0}; k=0; src=; t=; "
	"skip() { printf 'FERRY-BOOT skip\\t%s\\t%s\\n' \"$c\" \"$1\"; "
	"[ -z \"$t\" ] || rm -f -- \"$t\"; t=; back; }; "
	"inst() { c=$1; tilde; k=$((k+1)); [ \"$k\" -gt \"$sk\" ] || return 0; "
	"[ \"$2\" != t ] || [ ! -h \"$c\" ] || { skip \"it is a symlink\"; return; }; "
	"mkdir -p -- \"$c\" 2>/dev/null || { skip \"cannot create it\"; return; }; "
	"cd -P -- \"$c\" 2>/dev/null || { skip \"cannot enter it\"; return; }; "
	"[ -O . ] || { skip \"it belongs to another user\"; return; }; "
	"chmod 700 . 2>/dev/null || { skip \"cannot make it private\"; return; }; "
	"t=./.upload.$$; rm -f -- \"$t\"; "
	"if [ -z \"$src\" ]; then "
	"e=$(cat 2>&1 >\"$t\") || { rm -f -- \"$t\"; printf 'FERRY-BOOT again\\t%s\\t%s\\t%s\\n' \"$k\" \"$c\" \"$e\" | tr -d '\\r'; exit 0; }; "
	"[ \"$(cksum <\"$t\")\" = \"$sum\" ] || { rm -f -- \"$t\"; printf 'FERRY-BOOT fail\\tchecksum\\t%s\\tupload corrupted\\n' \"$c\"; exit 0; }; "
	"exec 3<\"$t\"; src=1; "
	"else e=$(cat /dev/fd/3 2>&1 >\"$t\") || { skip \"cannot write there: $e\"; return; }; fi; "
	"chmod 700 -- \"$t\" || { skip \"cannot chmod\"; return; }; "
	"v=$(\"$t\" agent --build-id 2>&1); [ \"$v\" = \"$id\" ] || { skip \"cannot run programs there: $(printf '%s' \"$v\" | tr '\\n\\t' '  ')\"; return; }; "
	"if [ -h \"$id\" ] || [ -e \"$id\" ] || ! mkdir -- \"$id\" 2>/dev/null; then "
	"[ -d \"$id\" ] && [ ! -h \"$id\" ] && [ -O \"$id\" ] || { skip \"$id in it belongs to another user or is no folder\"; return; }; fi; "
	"chmod 700 -- \"$id\" || { skip \"cannot make $id private\"; return; }; "
	"if [ -h \"$id/ferry\" ]; then rm -f -- \"$id/ferry\"; fi; "
	"[ ! -d \"$id/ferry\" ] || { skip \"$id/ferry in it is a folder\"; return; }; "
	"mv -f -- \"$t\" \"$id/ferry\" || { skip \"cannot move into $c/$id\"; return; }; "
	"printf 'FERRY-BOOT installed\\t%s\\n' \"$c/$id/ferry\"; exit 0; }; "
	"each inst; "
	"[ -n \"$src\" ] || [ \"$k\" -le \"$sk\" ] || cat >/dev/null; "
	"printf 'FERRY-BOOT fail\\tnowhere\\t-\\tno candidate folder took it\\n'";

/* Sleeps ms, or until one of the signals that stop ferry: 0 or it. */
static int nap_or_signal(uint64_t ms)
{
	static const int stops[] = { SIGINT, SIGTERM, SIGHUP };
	uint64_t until = now_mono_ns() + ms * 1000000u;
	for (;;) {
		for (size_t i = 0; i < ARRAY_LEN(stops); i++)
			if (sig_take(stops[i]))
				return stops[i];
		uint64_t now = now_mono_ns();
		if (now >= until)
			return 0;
		struct pollfd p = { .fd = sig_fd(), .events = POLLIN };
		if (poll(&p, 1, (int)((until - now) / 1000000u) + 1) > 0)
			sig_drain();
	}
}

int session_reopen(struct session *s, const struct config *cfg, uint16_t first_type, const struct buf *first,
		   struct ferr *e)
{
	struct session_opts so = { .batch = true };
	uint64_t give_up = now_mono_ns() + RECONNECT_GIVE_UP_MS * 1000000ull;
	uint64_t wait_ms = RECONNECT_FIRST_MS;
	for (;;) {
		if (session_open(s, cfg, &so, first_type, first, e) == 0) {
			ferr_release(e);	/* an earlier try's */
			return 0;
		}
		if (e->code != EXIT_CONNECT)
			return -1;
		if (now_mono_ns() + wait_ms * 1000000u >= give_up) {
			char *m = xasprintf("gave up reconnecting after %d minutes: %s", RECONNECT_GIVE_UP_MS / 60000, e->msg);
			free(e->msg);
			e->msg = m;
			return -1;
		}
		int sig = nap_or_signal(wait_ms);
		if (sig) {
			ferr_set(e, 128 + sig, NULL, "interrupted while reconnecting to '%s'",
				 cfg->kind == TARGET_SSH ? cfg->host : "local");
			return -1;
		}
		wait_ms = wait_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : wait_ms * 2;
	}
}

static void session_free(struct session *s, bool print_stderr);

int session_control_dir(char **dir, struct ferr *e)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	const char *why;
	char *d = rt && rt[0] == '/' ? xasprintf("%s/ferry", rt) : xasprintf("/tmp/ferry-%ld", (long)geteuid());
	int r = dir_private(d, &why);
	if (r < 0) {
		ferr_set(e, EXIT_OSERR, "remove it or set XDG_RUNTIME_DIR to a private directory",
			 "control socket directory '%s' %s", d, why ? why : strerror(-r));
		free(d);
		return -1;
	}
	*dir = d;
	return 0;
}

static bool have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---- the terminal while connecting ---- */

static void tty_set_fg(int fd, pid_t pgrp)
{
	/* A background process that calls tcsetpgrp gets SIGTTOU. */
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	(void)tcsetpgrp(fd, pgrp);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Watches ssh (process group pgrp) for wanting the terminal, if we are
 * the terminal's foreground group now (never when ferry runs in the
 * background, or without a terminal). */
static void tty_lend(struct tty_lend *t, pid_t pgrp)
{
	t->fd = -1;
	t->pgrp = 0;
	t->lent = false;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (tcgetpgrp(fd) != getpgrp()) {
		close(fd);
		return;
	}
	t->fd = fd;
	t->pgrp = pgrp;
}

static void tty_take_back(struct tty_lend *t)
{
	if (t->fd < 0)
		return;
	if (t->lent) {
		tty_set_fg(t->fd, getpgrp());
		/* A pager after us in a pipeline (`ferry logs -f 1 | less`)
		 * that read the terminal meanwhile was stopped (SIGTTIN);
		 * the shell still sees its job running (we were), so let it
		 * go on. */
		kill(0, SIGCONT);
	}
	close(t->fd);
	t->fd = -1;
	t->pgrp = 0;
	t->lent = false;
}

/* ssh stopped.  Not holding the terminal, it was about to ask something
 * on it (SIGTTOU/SIGTTIN: its readpassphrase starts the prompt again on
 * SIGCONT): lend it the terminal and let it go on.  Holding it, Ctrl-Z at
 * its prompt stopped it: do what a shell would, take the terminal back
 * and stop ourselves; on `fg`, lend it again and let ssh go on.  Lending
 * only when asked keeps Ctrl-C ours while no prompt is on the screen. */
static void tty_follow_stop(struct tty_lend *t, pid_t pid)
{
	siginfo_t si;
	if (t->fd < 0 || pid <= 0)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOHANG) < 0 || si.si_pid != pid)
		return;
	if (!t->lent) {
		if (si.si_status != SIGTTIN && si.si_status != SIGTTOU)
			return;	/* stopped by someone else: theirs to resume */
		t->lent = true;
	} else {
		tty_set_fg(t->fd, getpgrp());
		raise(SIGTSTP);
	}
	tty_set_fg(t->fd, t->pgrp);
	kill(-t->pgrp, SIGCONT);
}

/* How long a poll may sleep while ssh may want the terminal: a stopped
 * ssh is noticed within this. */
#define LEND_POLL_MS	200

char **session_ssh_argv(const struct config *cfg, const char *ctl_dir, bool batch, const char *remote_cmd)
{
	char **w;
	int n = split_words(cfg->ssh_command, &w);
	if (n < 0)
		bug("ssh_command was validated at load");
	char *extra[32];
	int k = 0;
	extra[k++] = xstrdup("-T");
	extra[k++] = xstrdup("-o");
	extra[k++] = xstrdup("ControlMaster=auto");
	extra[k++] = xstrdup("-o");
	extra[k++] = xasprintf("ControlPath=%s/%%C", ctl_dir);
	extra[k++] = xstrdup("-o");
	extra[k++] = xstrdup("ControlPersist=600");
	extra[k++] = xstrdup("-o");
	extra[k++] = xstrdup("ServerAliveInterval=5");
	extra[k++] = xstrdup("-o");
	extra[k++] = xstrdup("ServerAliveCountMax=3");
	extra[k++] = xstrdup("-o");
	extra[k++] = xstrdup("ConnectTimeout=20");
	if (batch || !have_tty()) {
		extra[k++] = xstrdup("-o");
		extra[k++] = xstrdup("BatchMode=yes");
	}
	extra[k++] = xstrdup("--");
	extra[k++] = xstrdup(cfg->host);
	extra[k++] = xstrdup(remote_cmd);
	w = xrealloc(w, ((size_t)n + (size_t)k + 1) * sizeof(char *));
	memcpy(w + n, extra, (size_t)k * sizeof(char *));
	w[n + k] = NULL;
	return w;
}

/* `exec sh -c SCRIPT ferry-boot ID DIR [ARG...]`, each word quoted. */
static char *boot_command(const struct config *cfg, const char *id, const char *body, const char *arg3,
			  const char *arg4)
{
	char *script = xasprintf("%s%s", boot_dir_script, body);
	char *qs = sh_quote(script);
	char *qid = sh_quote(id);
	char *qdir = sh_quote(cfg->agent_dir ? cfg->agent_dir : "");
	char *q3 = arg3 ? sh_quote(arg3) : xstrdup("");
	char *q4 = arg4 ? sh_quote(arg4) : xstrdup("");
	char *cmd = xasprintf("exec sh -c %s ferry-boot %s %s %s %s", qs, qid, qdir, q3, q4);
	free(script);
	free(qs);
	free(qid);
	free(qdir);
	free(q3);
	free(q4);
	return cmd;
}

/* ssh's notes on falling back from the ControlMaster to a connection of
 * its own: the master refused the session (sshd's MaxSessions, 10, with
 * 11+ ferry commands at once), is gone, or another ssh is just making its
 * socket.  ssh then connects by itself, and says so on a line of its own
 * if that fails too; these lines are neither shown nor taken as the
 * reason of a failure. */
static bool mux_noise(const char *line, size_t len)
{
	static const char *const heads[] = { "mux_client_", "muxclient: ", "Control socket connect(" };
	static const char cs[] = "ControlSocket ", tail[] = " already exists, disabling multiplexing";
	while (len > 0 && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < ARRAY_LEN(heads); i++)
		if (len >= strlen(heads[i]) && memcmp(line, heads[i], strlen(heads[i])) == 0)
			return true;
	return len >= sizeof(cs) - 1 + sizeof(tail) - 1 && memcmp(line, cs, sizeof(cs) - 1) == 0 &&
	       memcmp(line + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0;
}

/* What ssh said, but its multiplexing notes. */
static void write_ssh_stderr(const struct buf *b)
{
	const char *p = (const char *)b->data;
	size_t n = b->len;
	while (n > 0) {
		const char *eol = memchr(p, '\n', n);
		size_t len = eol ? (size_t)(eol - p) + 1 : n;
		if (!mux_noise(p, eol ? len - 1 : len)) {
			/* ssh's words, shown: control characters made visible. */
			char *shown = str_visible_lines(p, len);
			(void)write_all(2, shown, strlen(shown));
			free(shown);
		}
		p += len;
		n -= len;
	}
}

static void keep_stderr(struct buf *b, const void *p, size_t n)
{
	if (n >= SSH_STDERR_KEEP) {
		buf_reset(b);
		buf_put(b, (const uint8_t *)p + n - SSH_STDERR_KEEP, SSH_STDERR_KEEP);
		return;
	}
	if (b->len + n > SSH_STDERR_KEEP)
		buf_consume(b, b->len + n - SSH_STDERR_KEEP);
	buf_put(b, p, n);
}

void session_read_stderr(struct session *s)
{
	if (s->proc.err < 0)
		return;
	for (;;) {
		char tmp[4096];
		ssize_t n = read(s->proc.err, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0) {
				close(s->proc.err);
				s->proc.err = -1;
			}
			return;
		}
		keep_stderr(&s->ssh_err, tmp, (size_t)n);
	}
}

/* The last non-empty line ssh printed, for messages (not one of its
 * multiplexing notes). */
static char *stderr_last_line(struct session *s)
{
	const char *p = (const char *)s->ssh_err.data, *last = NULL;
	size_t n = s->ssh_err.len, last_len = 0;
	while (n > 0) {
		const char *eol = memchr(p, '\n', n);
		size_t len = eol ? (size_t)(eol - p) : n, l = len;
		while (l > 0 && p[l - 1] == '\r')
			l--;
		if (l > 0 && !mux_noise(p, l)) {
			last = p;
			last_len = l;
		}
		if (eol == NULL)
			break;
		p += len + 1;
		n -= len + 1;
	}
	return last ? xstrndup(last, last_len) : xstrdup("");
}

/* Ends the transport and returns its wait status.  Our pipe ends close
 * first, so a peer blocked writing to us gets EPIPE instead of waiting
 * forever; one that still does not exit is terminated. */
static int reap(struct session *s)
{
	int st = 0;
	if (s->proc.in >= 0)
		close(s->proc.in);
	if (s->proc.out >= 0)
		close(s->proc.out);
	s->proc.in = s->proc.out = -1;
	s->c.rfd = s->c.wfd = -1;
	if (s->proc.pid > 0) {
		uint64_t deadline = now_mono_ns() + TRANSPORT_EXIT_WAIT_MS * 1000000ull;
		bool termed = false;
		long nap_us = 50;	/* ssh usually exits within a millisecond */
		for (;;) {
			pid_t r = waitpid(s->proc.pid, &st, WNOHANG);
			if (r == s->proc.pid || (r < 0 && errno != EINTR))
				break;
			if (now_mono_ns() > deadline) {
				kill(s->proc.pid, termed ? SIGKILL : SIGTERM);
				termed = true;
				deadline = now_mono_ns() + TRANSPORT_EXIT_WAIT_MS * 1000000ull;
			}
			/* Meanwhile, collect ssh's last words. */
			struct pollfd p = { .fd = s->proc.err, .events = POLLIN };
			if (s->proc.err >= 0 && poll(&p, 1, 10) > 0)
				session_read_stderr(s);
			else if (s->proc.err < 0) {
				struct timespec ts = { 0, nap_us * 1000 };
				nanosleep(&ts, NULL);
				if (nap_us < 10000)
					nap_us *= 2;
			}
		}
		s->proc.pid = -1;
	}
	/* ssh may still hold stderr through a ControlPersist master it forked:
	 * read what is there, do not wait for EOF. */
	session_read_stderr(s);
	return st;
}

/* What ssh says when it fails, most telling first: a host key or an
 * authentication problem explains a connection that then closed.  The
 * first four are ssh's own failures, counted only when ssh exited 255,
 * since the remote shell's stderr comes through ssh too and its
 * "sh: ./ferry: Permission denied" is no authentication failure. */
static const struct {
	const char *needle;
	enum ssh_fail fail;
} ssh_says[] = {
	{ "Host key verification failed", SSH_FAIL_HOSTKEY },
	{ "IDENTIFICATION HAS CHANGED", SSH_FAIL_HOSTKEY },
	{ "host key is known", SSH_FAIL_HOSTKEY },
	{ "No ED25519 host key", SSH_FAIL_HOSTKEY },
	{ "No RSA host key", SSH_FAIL_HOSTKEY },
	{ "No ECDSA host key", SSH_FAIL_HOSTKEY },
	{ "Permission denied", SSH_FAIL_AUTH },
	{ "Too many authentication failures", SSH_FAIL_AUTH },
	{ "Authentication failed", SSH_FAIL_AUTH },
	{ "Connection refused", SSH_FAIL_REFUSED },
	{ "Could not resolve hostname", SSH_FAIL_RESOLVE },
	{ "Name or service not known", SSH_FAIL_RESOLVE },
	{ "timed out", SSH_FAIL_NETWORK },
	{ "No route to host", SSH_FAIL_NETWORK },
	{ "Network is unreachable", SSH_FAIL_NETWORK },
	{ "Broken pipe", SSH_FAIL_NETWORK },
	{ "Connection reset", SSH_FAIL_NETWORK },
	{ "Connection closed", SSH_FAIL_NETWORK },
};

/* needle on a line of err that is about the host.  A stale ControlMaster
 * socket makes ssh say "Control socket connect(PATH): Connection refused"
 * and then connect by itself: that line (mux_noise) says nothing about
 * the host. */
static bool ssh_err_has(const char *err, size_t n, const char *needle)
{
	size_t nl = strlen(needle);
	while (n > 0) {
		const char *eol = memchr(err, '\n', n);
		size_t len = eol ? (size_t)(eol - err) : n;
		if (!mux_noise(err, len) && memmem(err, len, needle, nl) != NULL)
			return true;
		if (eol == NULL)
			break;
		n -= len + 1;
		err += len + 1;
	}
	return false;
}

enum ssh_fail session_ssh_class(const char *err, size_t n, int st, bool during)
{
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (!during && WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGQUIT))
		return SSH_FAIL_INTERRUPTED;
	for (size_t i = 0; i < ARRAY_LEN(ssh_says); i++) {
		enum ssh_fail f = ssh_says[i].fail;
		if (f != SSH_FAIL_NETWORK && code != 255)
			continue;
		if (ssh_err_has(err, n, ssh_says[i].needle))
			return f == SSH_FAIL_NETWORK && during ? SSH_FAIL_LOST : f;
	}
	if (during)
		return SSH_FAIL_LOST;
	return code == 255 ? SSH_FAIL_SSH : SSH_FAIL_NO_AGENT;
}

int session_ssh_exit(enum ssh_fail f, int st)
{
	switch (f) {
	case SSH_FAIL_INTERRUPTED:
		return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : EXIT_FAIL;
	case SSH_FAIL_HOSTKEY:
	case SSH_FAIL_AUTH:
		return EXIT_AUTH;
	case SSH_FAIL_REFUSED:
	case SSH_FAIL_RESOLVE:
	case SSH_FAIL_NETWORK:
	case SSH_FAIL_SSH:
		return EXIT_CONNECT;
	case SSH_FAIL_LOST:
		return EXIT_LOST;
	case SSH_FAIL_NO_AGENT:
		return EXIT_PROTO;
	}
	return EXIT_INTERNAL;
}

static void classify_ssh_failure(struct session *s, int st, bool during, struct ferr *e)
{
	const char *h = s->label;
	char *last = stderr_last_line(s);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	enum ssh_fail f = session_ssh_class((const char *)s->ssh_err.data, s->ssh_err.len, st, during);
	int x = session_ssh_exit(f, st);
	const char *sep = last[0] ? ": " : "";
	char *hint;

	switch (f) {
	case SSH_FAIL_INTERRUPTED:
		/* Ctrl-C at one of ssh's prompts, while it held the terminal. */
		ferr_set(e, x, NULL, "interrupted while connecting to '%s'", h);
		break;
	case SSH_FAIL_HOSTKEY:
		hint = xasprintf("run `ssh %s` once to check and accept the server's host key", h);
		ferr_set(e, x, hint, "host key of '%s' is not trusted: %s", h, last);
		free(hint);
		break;
	case SSH_FAIL_AUTH:
		ferr_set(e, x, "`ssh HOST true` must work without a password prompt: load your key with ssh-add or set IdentityFile in ~/.ssh/config",
			 "authentication to '%s' failed: %s", h, last);
		break;
	case SSH_FAIL_REFUSED:
		ferr_set(e, x, "is sshd running on the server, and is the port in ~/.ssh/config right?",
			 "cannot connect to '%s': connection refused", h);
		break;
	case SSH_FAIL_RESOLVE:
		ferr_set(e, x, "check 'host' in ferry.ini and the Host entries in ~/.ssh/config",
			 "cannot resolve host '%s'", h);
		break;
	case SSH_FAIL_NETWORK:
		ferr_set(e, x, "check your network, VPN or ProxyJump settings", "cannot connect to '%s': %s", h, last);
		break;
	case SSH_FAIL_LOST:
		ferr_set(e, x, "the command may still be running or may have been stopped; check on the server",
			 "connection to '%s' lost while the command ran%s%s", h, sep, last);
		break;
	case SSH_FAIL_SSH:
		ferr_set(e, x, "try `ssh HOST true` to see what ssh says", "ssh to '%s' failed%s%s", h, sep, last);
		break;
	case SSH_FAIL_NO_AGENT:
		ferr_set(e, x, "check that your shell startup files on the server do not exit or exec another program",
			 "the server '%s' did not start the ferry agent (remote exit %d)%s%s", h, code, sep, last);
		break;
	}
	free(last);
}

void session_lost(struct session *s, bool during_command, struct ferr *e)
{
	int st = reap(s);
	if (s->cfg->kind == TARGET_LOCAL) {
		if (during_command)
			ferr_set(e, EXIT_LOST, NULL, "the local agent ended while the command ran");
		else
			ferr_set(e, EXIT_PROTO, NULL, "the local agent ended before the handshake");
		return;
	}
	classify_ssh_failure(s, st, during_command, e);
}

void err_from_read(struct session *s, int r, bool during_command, struct ferr *e)
{
	if (r == -EBADMSG)
		ferr_set(e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", s->label);
	else
		session_lost(s, during_command, e);
}

static int start_transport(struct session *s, const char *ctl_dir, const char *remote_cmd,
			   const struct session_opts *o, struct ferr *e)
{
	char **argv;
	struct spawn_opts so = { .in = SPAWN_PIPE, .out = SPAWN_PIPE, .err = SPAWN_PIPE };

	if (s->cfg->kind == TARGET_LOCAL) {
		/* FERRY_LOCAL_AGENT: another agent executable for the local
		 * target, with leading words (`qemu-aarch64-static PATH`):
		 * how the static agents are tested without a server. */
		const char *alt = getenv("FERRY_LOCAL_AGENT");
		int nw = 0;
		if (alt != NULL && *alt != '\0') {
			nw = split_words(alt, &argv);
			if (nw <= 0) {
				ferr_set(e, EXIT_USAGE, NULL, "FERRY_LOCAL_AGENT is not a command: '%s'", alt);
				return -1;
			}
			argv = xrealloc(argv, ((size_t)nw + 2) * sizeof(char *));
		} else {
			char self[4096];
			if (platform_self_exe(self, sizeof(self)) < 0) {
				ferr_set(e, EXIT_OSERR, NULL, "cannot find the ferry executable: %s", strerror(errno));
				return -1;
			}
			argv = xcalloc(3, sizeof(char *));
			argv[nw++] = xstrdup(self);
		}
		argv[nw++] = xstrdup("agent");
		argv[nw] = NULL;
		so.new_pgrp = true;	/* Ctrl-C is ours to forward */
		so.err = SPAWN_INHERIT;
	} else {
		argv = session_ssh_argv(s->cfg, ctl_dir, o->batch, remote_cmd);
		/* Out of the terminal's group: its Ctrl-C is ours to
		 * forward (ssh installs handlers of its own, whatever it
		 * inherits). */
		so.new_pgrp = true;
	}
	int r = spawn(argv, &so, &s->proc);
	if (r < 0) {
		if (r == -ENOENT || r == -EACCES)
			ferr_set(e, EXIT_CONNECT, s->cfg->kind == TARGET_SSH ? "install the OpenSSH client (apt install openssh-client) or fix ssh_command / FERRY_SSH_COMMAND" : NULL,
				 "cannot run '%s': %s", argv[0], strerror(-r));
		else
			ferr_set(e, EXIT_OSERR, NULL, "cannot start '%s': %s", argv[0], strerror(-r));
		free_words(argv);
		return -1;
	}
	free_words(argv);
	if (s->cfg->kind == TARGET_SSH && !o->batch)
		tty_lend(&s->lend, s->proc.pid);
	fd_nonblock(s->proc.in);
	fd_nonblock(s->proc.out);
	if (s->proc.err >= 0)
		fd_nonblock(s->proc.err);
	conn_release(&s->c);
	conn_init(&s->c, s->proc.out, s->proc.in);
	return 0;
}

/* Waits until the conn has input (or EOF), flushing our queue and reading
 * ssh's stderr meanwhile.  0, or -1 with e set when a signal asked us to
 * stop or the agent did not show up within STARTUP_TIMEOUT_MS. */
/* ---- one frame at a time, on the loop ---- */

struct pump {
	struct session *s;
	bool signalled;
};

static void pump_read(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct pump *p = arg;
	int r = conn_fill(&p->s->c);
	if (r < 0 && r != -EAGAIN)
		p->s->c.eof = true;	/* a reset is a lost link, as EOF is */
}

static void pump_write(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct pump *p = arg;
	if (conn_flush_some(&p->s->c) < 0)
		p->s->c.eof = true;
}

static void pump_stderr(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct pump *p = arg;
	session_read_stderr(p->s);
	if (p->s->proc.err < 0)
		ev_fd_del(ev, fd, EV_READ);
}

/* sig.c's pipe, not ev_sig_add: the command chose the signals and their
 * disposition outlives this call. */
static void pump_signal(struct ev_loop *ev, int fd, int mask, void *arg)
{
	struct pump *p = arg;
	sig_drain();
	p->signalled = true;
}

static void pump_interest(struct ev_loop *ev, void *arg)
{
	struct pump *p = arg;
	if (p->s->c.out.len)
		ev_fd_add(ev, p->s->c.wfd, EV_WRITE, pump_write, p);
	else
		ev_fd_del(ev, p->s->c.wfd, EV_WRITE);
}

int session_next(struct session *s, uint16_t *type, struct rd *body, const int *stops)
{
	struct pump p = { .s = s };
	struct ev_loop *ev = NULL;
	int r;

	for (;;) {
		r = conn_next(&s->c, type, body);
		if (r != 0)
			break;
		if (s->c.eof)
			break;
		for (const int *sg = stops; *sg && p.signalled; sg++)
			if (sig_take(*sg)) {
				r = -*sg;
				goto out;
			}
		p.signalled = false;
		if (ev == NULL) {
			ev = ev_new();
			ev_fd_add(ev, s->c.rfd, EV_READ, pump_read, &p);
			ev_fd_add(ev, sig_fd(), EV_READ, pump_signal, &p);
			if (s->proc.err >= 0)
				ev_fd_add(ev, s->proc.err, EV_READ, pump_stderr, &p);
			ev_set_before(ev, pump_interest, &p);
			p.signalled = true;	/* one that came before this call */
			continue;
		}
		if (ev_once(ev, -1) < 0)
			s->c.eof = true;
	}
out:
	ev_free(ev);
	return r;
}

static int wait_input(struct session *s, struct ferr *e)
{
	struct pollfd p[4];
	int np = 0, ie = -1, is;

	p[np++] = (struct pollfd){ .fd = s->c.rfd, .events = POLLIN };
	p[np++] = (struct pollfd){ .fd = s->c.out.len ? s->c.wfd : -1, .events = POLLOUT };
	if (s->proc.err >= 0) {
		ie = np;
		p[np++] = (struct pollfd){ .fd = s->proc.err, .events = POLLIN };
	}
	is = np;
	p[np++] = (struct pollfd){ .fd = sig_fd(), .events = POLLIN };
	uint64_t now = now_mono_ns();
	if (now >= s->deadline) {
		ferr_set(e, EXIT_CONNECT, "a shell startup file on the server may be waiting for input; try `ssh HOST true`",
			 "no answer from the agent on '%s' within %d s", s->label, STARTUP_TIMEOUT_MS / 1000);
		return -1;
	}
	int timeout = (int)((s->deadline - now) / 1000000u) + 1;
	if (s->lend.fd >= 0 && timeout > LEND_POLL_MS)
		timeout = LEND_POLL_MS;
	int pr = poll(p, (nfds_t)np, timeout);
	tty_follow_stop(&s->lend, s->proc.pid);
	if (pr < 0)
		return 0;
	if (ie >= 0 && p[ie].revents)
		session_read_stderr(s);
	if (p[1].revents)
		(void)conn_flush_some(&s->c);
	if (p[is].revents) {
		sig_drain();
		static const int stops[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
		for (size_t i = 0; i < ARRAY_LEN(stops); i++) {
			if (sig_take(stops[i])) {
				ferr_set(e, 128 + stops[i], NULL, "interrupted while connecting to '%s'", s->label);
				return -1;
			}
		}
	}
	return 0;
}

/* Reads until the preamble.  1 agent ready, 0 a FERRY-BOOT line in *boot,
 * -1 EOF or too much noise (transport finished or broken), -2 with e set
 * (interrupted, timed out). */
static int read_preamble(struct session *s, char **boot, struct ferr *e)
{
	*boot = NULL;
	for (;;) {
		int r = conn_preamble(&s->c, PRELUDE_MAX, &s->noise, &s->noise_line, boot);
		if (r == 1)
			return 1;
		if (r == 2)
			return 0;
		if (r < 0 || s->c.eof)
			return -1;
		int fr = conn_fill(&s->c);
		if (fr == -EAGAIN) {
			if (wait_input(s, e) < 0)
				return -2;
		} else if (fr < 0) {
			return -1;
		}
	}
}

/* The agent for os/arch: the bundle's, else this executable when it is
 * built for that platform.  0, or -1 when there is none (the guess of
 * session_start, or an error install_agent reports). */
static int pick_agent(struct session *s, const char *os, const char *arch)
{
	struct bundle_agent a;
	struct utsname u;
	free(s->agent_path);
	free(s->agent_id);
	s->agent_path = NULL;
	if (bundle_find(os, arch, &a) == 0) {
		s->agent_path = a.path;
		s->agent_id = xstrdup(a.id);
		return 0;
	}
	s->agent_id = xstrdup(ferry_build_id());
	uname(&u);
	return strcmp(os, u.sysname) == 0 && strcmp(arch, u.machine) == 0 ? 0 : -1;
}

/* The boot script's "FERRY-BOOT need OS ARCH DIR": the agent for that
 * platform.  0 the same agent as asked for (it is missing: install it),
 * 1 another one (boot_cmd now names it: it may be there already), -1
 * with e set when there is none. */
static int pick_for_need(struct session *s, const char *need, struct ferr *e)
{
	char os[64] = "", arch[64] = "";
	if (sscanf(need, "FERRY-BOOT need %63s %63s", os, arch) < 2) {
		ferr_set(e, EXIT_PROTO, NULL, "unexpected answer from the server '%s': %s", s->label, need);
		return -1;
	}
	snprintf(s->platform[0], sizeof(s->platform[0]), "%s", os);
	snprintf(s->platform[1], sizeof(s->platform[1]), "%s", arch);
	char *old_id = s->agent_id;
	s->agent_id = NULL;
	int picked = pick_agent(s, os, arch);
	if (picked < 0 && strcmp(os, "Linux") != 0) {
		ferr_set(e, EXIT_REMOTE, "ferry's agents run on Linux servers only: pick a Linux host for 'host' in ferry.ini",
			 "the server '%s' runs %s %s: there is no ferry agent for %s", s->label, os, arch, os);
		free(old_id);
		return -1;
	}
	if (picked < 0) {
		char *have = bundle_platforms();
		char *bd = bundle_dir();
		char *h = xasprintf("this ferry carries agents for: %s%s%s%s; build the one for %s with `make agents AGENT_ARCHES=%s` (Debian's gcc-%s-linux-gnu), or install a ferry release, which carries all",
				    have[0] ? have : "none", bd ? " (in " : "", bd ? bd : "", bd ? ")" : " (no agent bundle found)",
				    arch, arch, arch);
		ferr_set(e, EXIT_REMOTE, h, "the server '%s' runs %s %s, and there is no ferry agent for it here",
			 s->label, os, arch);
		free(h);
		free(have);
		free(bd);
		free(old_id);
		return -1;
	}
	int changed = old_id == NULL || strcmp(old_id, s->agent_id) != 0;
	free(old_id);
	if (changed) {
		free(s->boot_cmd);
		s->boot_cmd = boot_command(s->cfg, s->agent_id, boot_run_script, NULL, NULL);
	}
	return changed;
}

/* The tab-separated fields of one "FERRY-BOOT WORD\t..." line of the
 * install script (the server wrote it: any may be missing). */
static int boot_fields(const char *line, size_t len, char *f[4])
{
	int n = 0;
	const char *p = line, *end = line + len;
	while (n < 4 && p <= end) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		const char *stop = tab ? tab : end;
		f[n++] = xstrndup(p, (size_t)(stop - p));
		if (tab == NULL)
			break;
		p = tab + 1;
	}
	return n;
}

/* Runs the install script once (candidates after the first skip): its
 * stdout in *out.  0, or -1 with e set (ssh failed, interrupted). */
static int run_install(struct session *s, const char *ctl_dir, const struct session_opts *o, const char *self,
		       size_t len, const char *sum, int skip, char **out, struct ferr *e)
{
	char sk[16];
	snprintf(sk, sizeof(sk), "%d", skip);
	char *cmd = boot_command(s->cfg, s->agent_id, boot_install_script, sum, sk);
	char **argv = session_ssh_argv(s->cfg, ctl_dir, o->batch, cmd);
	free(cmd);
	struct child ch;
	struct spawn_opts so = { .in = SPAWN_PIPE, .out = SPAWN_PIPE, .err = SPAWN_PIPE, .new_pgrp = true };
	struct tty_lend lend = { .fd = -1 };
	int r = spawn(argv, &so, &ch);
	free_words(argv);
	*out = NULL;
	if (r < 0) {
		ferr_set(e, EXIT_OSERR, NULL, "cannot start ssh: %s", strerror(-r));
		return -1;
	}
	if (!o->batch)
		tty_lend(&lend, ch.pid);
	/* The script reads all of stdin before its verdict (a skip line may
	 * come first: small, the pipe holds it). */
	int wr = write_all(ch.in, self, len);
	close(ch.in);
	ch.in = -1;
	struct buf ob, eb;
	buf_init(&ob, PRELUDE_MAX);
	buf_init(&eb, SSH_STDERR_KEEP);
	struct pollfd p[3] = { { .fd = ch.out, .events = POLLIN }, { .fd = ch.err, .events = POLLIN },
			       { .fd = sig_fd(), .events = POLLIN } };
	int stop = 0;
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int pr = poll(p, 3, lend.fd >= 0 ? LEND_POLL_MS : -1);
		tty_follow_stop(&lend, ch.pid);
		if (pr < 0 && errno != EINTR)
			break;
		if (p[2].revents) {
			sig_drain();
			static const int stops[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
			for (size_t i = 0; i < ARRAY_LEN(stops) && !stop; i++)
				if (sig_take(stops[i]))
					stop = stops[i];
			if (stop) {
				kill(ch.pid, SIGTERM);
				break;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char tmp[4096];
			ssize_t got = read(p[i].fd, tmp, sizeof(tmp));
			if (got <= 0) {
				p[i].fd = -1;
				continue;
			}
			if (i == 0)
				buf_put(&ob, tmp, (size_t)got);
			else
				keep_stderr(&eb, tmp, (size_t)got);
		}
	}
	int st;
	child_close(&ch);
	wait_child(ch.pid, &st);
	tty_take_back(&lend);
	*out = ob.len ? xstrndup((const char *)ob.data, ob.len) : xstrdup("");	/* an empty buf has no data */
	buf_release(&ob);
	int ret = 0;
	if (stop) {
		ferr_set(e, 128 + stop, "the agent was not installed; the next command tries again",
			 "interrupted while installing the agent on '%s'", s->label);
		ret = -1;
	} else if (strstr(*out, "FERRY-BOOT ") == NULL && (wr < 0 || WIFSIGNALED(st) || WEXITSTATUS(st) == 255)) {
		struct session tmp = { .label = s->label, .ssh_err = eb };
		classify_ssh_failure(&tmp, st, false, e);
		eb = tmp.ssh_err;
		ret = -1;
	}
	buf_release(&eb);
	return ret;
}

/* The error for an install that found no folder: the reasons each
 * candidate gave (why: "DIR: REASON; ..."), the most telling first. */
static void install_failed(struct session *s, const char *why, struct ferr *e)
{
	const char *fix = "set agent_dir in ferry.ini to a folder on the server where you can write and run programs";
	bool one = s->cfg->agent_dir != NULL && s->cfg->agent_dir[0] != '\0';
	if (strstr(why, "No space left") || strstr(why, "Disk quota"))
		ferr_set(e, EXIT_REMOTE, fix, "disk full on %s while installing the agent: %s", s->label, why);
	else if (one && strstr(why, "cannot run programs there") && strstr(why, "Permission denied"))
		ferr_set(e, EXIT_REMOTE, fix, "cannot run programs from '%s' on %s (is it mounted noexec?)", s->cfg->agent_dir,
			 s->label);
	else if (strstr(why, "cannot run programs there") && !strstr(why, "Permission denied"))
		ferr_set(e, EXIT_REMOTE, s->agent_path ? "the server's kernel may be too old for it (docs/kernel.md)" : "the server may lack the C library this ferry was built against: use the static agents (`make agents`)",
			 "the uploaded agent does not run on %s: %s", s->label, why);
	else if (one)
		ferr_set(e, EXIT_REMOTE, fix, "cannot install the agent in '%s' on %s: %s", s->cfg->agent_dir, s->label,
			 strncmp(why, s->cfg->agent_dir, strlen(s->cfg->agent_dir)) == 0 && why[strlen(s->cfg->agent_dir)] == ':'
				 ? why + strlen(s->cfg->agent_dir) + 2 : why);
	else
		ferr_set(e, EXIT_REMOTE, fix, "cannot install the agent on %s, in none of its candidate folders: %s", s->label, why);
}

/* Uploads the agent pick_for_need chose.  0 or -1 with e set. */
static int install_agent(struct session *s, const char *ctl_dir, const struct session_opts *o, struct ferr *e)
{
	char *self = NULL, *sum = NULL;
	size_t len = 0;
	int ret = -1;
	char exe[4096];
	const char *src = s->agent_path;
	if (src == NULL) {
		(void)platform_self_exe(exe, sizeof(exe));	/* "" on failure */
		src = exe;
	}
	if (src[0] == '\0' || read_file(src, AGENT_UPLOAD_MAX, &self, &len) < 0) {
		ferr_set(e, EXIT_OSERR, NULL, "cannot read the agent '%s' to upload it", src);
		return -1;
	}
	sum = xasprintf("%u %zu", posix_cksum(self, len), len);
	struct buf why;
	buf_init(&why, PRELUDE_MAX);
	int skip = 0;
	for (int round = 0; round < BOOT_CANDIDATES_MAX; round++) {
		char *out = NULL;
		if (run_install(s, ctl_dir, o, self, len, sum, skip, &out, e) < 0) {
			free(out);
			goto out;
		}
		int again = -1;
		bool done = false;
		for (const char *l = out; *l && !done; l += strcspn(l, "\n"), l += *l == '\n') {
			size_t ll = strcspn(l, "\n");
			if (ll < 11 || memcmp(l, "FERRY-BOOT ", 11) != 0)
				continue;
			char *f[4] = { NULL };
			int nf = boot_fields(l + 11, ll - 11, f);
			if (nf >= 3 && strcmp(f[0], "skip") == 0) {
				char *line = xasprintf("%s%s: %s", why.len ? "; " : "", f[1], f[2]);
				(void)buf_put(&why, line, strlen(line));
				free(line);
			} else if (nf >= 3 && strcmp(f[0], "again") == 0) {
				char *line = xasprintf("%s%s: %s", why.len ? "; " : "", f[2], nf > 3 ? f[3] : "write failed");
				(void)buf_put(&why, line, strlen(line));
				free(line);
				/* 1..BOOT_CANDIDATES_MAX, a decimal. */
				if (strlen(f[1]) == 1 && f[1][0] >= '1' && f[1][0] <= '0' + BOOT_CANDIDATES_MAX)
					again = f[1][0] - '0';
			} else if (nf >= 2 && strcmp(f[0], "installed") == 0) {
				s->agent_where = xstrdup(f[1]);
				s->installed = true;
				done = true;
				ret = 0;
			} else if (nf >= 2 && strcmp(f[0], "fail") == 0) {
				char *w = why.len ? xstrndup((const char *)why.data, why.len) : xstrdup("");
				if (strcmp(f[1], "checksum") == 0)
					ferr_set(e, EXIT_REMOTE, "try again; if it keeps happening, the link corrupts data",
						 "the agent upload to %s arrived corrupted", s->label);
				else
					install_failed(s, w[0] ? w : (nf >= 4 ? f[3] : "no reason given"), e);
				free(w);
				done = true;
			}
			for (int i = 0; i < nf; i++)
				free(f[i]);
		}
		free(out);
		if (done && ret == 0 && why.len) {
			/* Not where the user looks first: say where, and why. */
			char *w = why.len ? xstrndup((const char *)why.data, why.len) : xstrdup("");
			char *shown = str_visible_lines(w, strlen(w));
			warn_msg("installed the agent on %s in %s (%s)", s->label, s->agent_where, shown);
			free(shown);
			free(w);
		}
		if (done)
			goto out;
		if (again < 0) {
			ferr_set(e, EXIT_REMOTE, NULL, "installing the agent on %s failed without a reason", s->label);
			goto out;
		}
		skip = again;
	}
	ferr_set(e, EXIT_REMOTE, NULL, "installing the agent on %s kept failing", s->label);
out:
	buf_release(&why);
	free(self);
	free(sum);
	return ret;
}

/* The agent announced itself, then the stream ended before its hello. */
static void hello_eof(struct session *s, struct ferr *e)
{
	int st = reap(s);
	if (s->cfg->kind == TARGET_SSH && WIFEXITED(st) && WEXITSTATUS(st) == 255) {
		classify_ssh_failure(s, st, false, e);
		return;
	}
	ferr_set(e, EXIT_PROTO, NULL, "the agent on '%s' did not say hello (it ended the session, status %d)",
		 s->label, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int expect_hello(struct session *s, struct ferr *e)
{
	for (;;) {
		uint16_t type;
		struct rd body;
		int r = conn_next(&s->c, &type, &body);
		if (r < 0) {
			ferr_set(e, EXIT_PROTO, NULL, "malformed frame from the agent on '%s'", s->label);
			return -1;
		}
		if (r == 1) {
			if (type == MSG_ERROR) {
				(void)err_from_peer(&body, s->label, e);
				return -1;
			}
			if (type != MSG_HELLO || hello_decode(&body, &s->peer) < 0) {
				ferr_set(e, EXIT_PROTO, NULL, "the agent on '%s' did not say hello", s->label);
				return -1;
			}
			if (s->peer.version_min != s->peer.version_max ||
			    s->peer.version_max < PROTO_VERSION_MIN || s->peer.version_max > PROTO_VERSION_MAX) {
				ferr_set(e, EXIT_PROTO, NULL, "the agent on '%s' chose protocol version %u, which this ferry does not speak",
					 s->label, s->peer.version_max);
				return -1;
			}
			/* Both speak channels: headers may carry ids (the agent
			 * uses one only on a channel we opened). */
			s->c.chans = (s->peer.caps & CAPS_SELF & CAP_CHANNELS) != 0;
			return 0;
		}
		if (s->c.eof) {
			hello_eof(s, e);
			return -1;
		}
		(void)conn_flush_some(&s->c);
		int fr = conn_fill(&s->c);
		if (fr == -EAGAIN) {
			if (wait_input(s, e) < 0)
				return -1;
		} else if (fr < 0) {
			hello_eof(s, e);
			return -1;
		}
	}
}

int session_start(struct session *s, const struct config *cfg, const struct session_opts *o, struct ferr *e)
{
	struct hello me;

	memset(s, 0, sizeof(*s));
	s->t0 = now_mono_ns();
	buf_init(&s->hello, FRAME_MAX);
	s->cfg = cfg;
	s->opts = *o;
	s->label = cfg->kind == TARGET_SSH ? cfg->host : "local";
	s->proc.pid = -1;
	s->proc.in = s->proc.out = s->proc.err = -1;
	s->lend.fd = -1;
	buf_init(&s->ssh_err, SSH_STDERR_KEEP);
	conn_init(&s->c, -1, -1);
	sig_ignore(SIGPIPE);

	if (cfg->kind == TARGET_SSH) {
		if (session_control_dir(&s->ctl_dir, e) < 0)
			goto fail;
		/* The platform this host had last time, else this machine's:
		 * wrong only on a first contact with another architecture,
		 * which the boot script's answer then corrects. */
		struct utsname u;
		uname(&u);
		if (host_platform_get(cfg->host, s->platform[0], s->platform[1]) < 0) {
			snprintf(s->platform[0], sizeof(s->platform[0]), "%.63s", u.sysname);
			snprintf(s->platform[1], sizeof(s->platform[1]), "%.63s", u.machine);
		}
		(void)pick_agent(s, s->platform[0], s->platform[1]);
		s->boot_cmd = boot_command(cfg, s->agent_id, boot_run_script, NULL, NULL);
	}
	hello_init_self(&me);
	hello_encode(&me, &s->hello);
	hello_release(&me);
	if (start_transport(s, s->ctl_dir, s->boot_cmd, &s->opts, e) < 0)
		goto fail;
	/* Pipelined: the hello goes out before the agent has even started;
	 * it reads it when it does. */
	conn_queue(&s->c, MSG_HELLO, s->hello.data, s->hello.len);
	(void)conn_flush_some(&s->c);
	return 0;
fail:
	session_free(s, false);
	return -1;
}

int session_finish(struct session *s, uint16_t first_type, const struct buf *first, struct ferr *e)
{
	char *boot = NULL;
	int ret = -1;
	bool installed = false, repicked = false, learned = false, probed = false;

	for (int attempt = 0;; attempt++) {
		if (attempt > 0) {
			if (start_transport(s, s->ctl_dir, s->boot_cmd, &s->opts, e) < 0)
				goto out;
			conn_queue(&s->c, MSG_HELLO, s->hello.data, s->hello.len);
		}
		/* The first request follows the hello, just as unasked. */
		if (first_type)
			conn_queue(&s->c, first_type, first->data, first->len);
		(void)conn_flush_some(&s->c);

		s->deadline = now_mono_ns() + STARTUP_TIMEOUT_MS * 1000000ull;
		int r = read_preamble(s, &boot, e);
		if (r == 1) {
			/* No prompt comes after this: ssh is through. */
			tty_take_back(&s->lend);
			if (learned)
				host_platform_put(s->cfg->host, s->platform[0], s->platform[1]);
			break;
		}
		if (r == -2)
			goto out;
		if (r < 0) {
			if (s->noise > PRELUDE_MAX) {
				ferr_set(e, EXIT_PROTO, "make your shell startup files on the server quiet when not interactive",
					 "the server '%s' printed too much before starting the agent", s->label);
				goto out;
			}
			int st = reap(s);
			/* 126 (127 from busybox): the agent the host's record
			 * named is there but cannot run (the name now leads to a machine of another
			 * kind, sharing the home): ask the boot script what the
			 * host is, once, with an id no agent folder has. */
			if (s->cfg->kind == TARGET_SSH && !probed && WIFEXITED(st) &&
			    (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127)) {
				probed = true;
				host_platform_forget(s->cfg->host);
				buf_reset(&s->ssh_err);
				free(s->agent_id);
				s->agent_id = xstrdup(BOOT_PROBE_ID);
				free(s->boot_cmd);
				s->boot_cmd = boot_command(s->cfg, s->agent_id, boot_run_script, NULL, NULL);
				tty_take_back(&s->lend);
				conn_release(&s->c);
				conn_init(&s->c, -1, -1);
				child_close(&s->proc);
				continue;
			}
			if (s->cfg->kind == TARGET_LOCAL)
				session_lost(s, false, e);
			else
				classify_ssh_failure(s, st, false, e);
			goto out;
		}
		/* A FERRY-BOOT line: the agent is missing. */
		reap(s);
		tty_take_back(&s->lend);
		conn_release(&s->c);
		conn_init(&s->c, -1, -1);
		child_close(&s->proc);
		if (installed) {
			ferr_set(e, EXIT_REMOTE, NULL, "the agent was installed on '%s' but does not start: %s", s->label, boot);
			goto out;
		}
		int pr = pick_for_need(s, boot, e);
		if (pr < 0)
			goto out;
		learned = true;
		/* Another platform than guessed: its agent may be there
		 * already (a home shared by hosts of both kinds). */
		if (pr == 1 && !repicked) {
			repicked = true;
		} else {
			if (install_agent(s, s->ctl_dir, &s->opts, e) < 0)
				goto out;
			installed = true;
		}
		free(boot);
		boot = NULL;
	}
	(void)conn_flush_some(&s->c);
	if (expect_hello(s, e) < 0)
		goto out;
	s->connect_ns = now_mono_ns() - s->t0;
	ret = 0;
out:
	if (ret < 0)
		session_free(s, false);	/* ssh's words are in e already */
	free(boot);
	return ret;
}

int session_open(struct session *s, const struct config *cfg, const struct session_opts *o,
		 uint16_t first_type, const struct buf *first, struct ferr *e)
{
	if (session_start(s, cfg, o, e) < 0)
		return -1;
	return session_finish(s, first_type, first, e);
}

static void session_free(struct session *s, bool print_stderr)
{
	(void)reap(s);
	tty_take_back(&s->lend);
	/* Whatever ssh said that was not an error we turned into a message. */
	if (print_stderr && s->ssh_err.len)
		write_ssh_stderr(&s->ssh_err);
	child_close(&s->proc);
	conn_release(&s->c);
	buf_release(&s->ssh_err);
	hello_release(&s->peer);
	buf_release(&s->hello);
	free(s->agent_where);
	free(s->noise_line);
	free(s->ctl_dir);
	free(s->boot_cmd);
	free(s->agent_path);
	free(s->agent_id);
	s->agent_where = s->noise_line = s->ctl_dir = s->boot_cmd = s->agent_path = s->agent_id = NULL;
}

void session_close(struct session *s)
{
	session_free(s, true);
}
