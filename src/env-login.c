/*
 * env-login.c - resolve and cache the login shell's environment.
 *
 * Why: over ssh a command runs under a non-interactive shell, so PATH and
 * variables set up by conda, pyenv or `module load` in ~/.bashrc are often
 * missing ("command not found over ssh").  We run the user's shell as an
 * interactive login shell once, have it exec `ferry agent --dump-env`, and
 * keep the result until a startup file changes (stat of a fixed list).
 *
 * The shell runs in its own session (no controlling terminal, so an
 * interactive shell cannot grab the user's tty), with stdin from /dev/null,
 * stderr discarded, and a hard timeout.
 */
#define _GNU_SOURCE
#include "env-login.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "spawn.h"
#include "names.h"
#include "util.h"

#include "banned.h"

#define LOGINENV_CACHE_MAGIC 0x464c4531u	/* "FLE1" */

/* Startup files whose change invalidates the cache ("~/" = $HOME). */
static const char *const key_files[] = {
	"~/.profile", "~/.bash_profile", "~/.bash_login", "~/.bashrc",
	"~/.zshenv", "~/.zprofile", "~/.zshrc", "~/.zlogin",
	"~/.cshrc", "~/.tcshrc", "~/.login", "~/.config/fish/config.fish",
	"~/.condarc", "/etc/profile", "/etc/profile.d", "/etc/bash.bashrc",
	"/etc/environment", "/etc/zsh/zshenv", "/etc/zsh/zprofile", "/etc/zsh/zshrc",
};

/* Per-connection variables: never cached, always this session's. */
static const char *const session_vars[] = {
	"SSH_CONNECTION", "SSH_CLIENT", "SSH_AUTH_SOCK", "DISPLAY", "TERM",
};
/* Shell bookkeeping that must not leak into commands. */
static const char *const drop_vars[] = { "PWD", "OLDPWD", "SHLVL", "_" };

void loginenv_release(struct loginenv *le)
{
	if (le == NULL)
		return;
	free(le->shell);
	for (uint32_t i = 0; i < le->nkeys; i++)
		free(le->keys[i].path);
	free(le->keys);
	for (uint32_t i = 0; i < le->nvars; i++)
		free(le->vars[i]);
	free(le->vars);
	memset(le, 0, sizeof(*le));
}

static int vars_decode(struct rd *r, char ***vars, uint32_t *nvars)
{
	uint32_t n = rd_u32(r), got = 0;
	char **v = xcalloc(1, sizeof(char *));
	if (n > LOGIN_ENV_VARS_MAX)
		rd_fail(r);
	while (rd_ok(r) && got < n) {
		char *s = rd_cstr(r, PROTO_STR_MAX);
		if (s == NULL)
			break;
		const char *eq = strchr(s, '=');
		if (eq == NULL || eq == s) {
			free(s);
			rd_fail(r);
			break;
		}
		v = xrealloc(v, (got + 2) * sizeof(char *));
		v[got++] = s;
	}
	v[got] = NULL;
	*vars = v;
	*nvars = got;
	return rd_ok(r) ? 0 : -1;
}

int loginenv_encode(const struct loginenv *le, struct buf *out)
{
	int r = buf_put_u32(out, LOGINENV_CACHE_MAGIC);
	r |= buf_put_cstr(out, le->shell);
	r |= buf_put_u32(out, le->nkeys);
	for (uint32_t i = 0; i < le->nkeys; i++) {
		r |= buf_put_cstr(out, le->keys[i].path);
		r |= buf_put_u8(out, le->keys[i].exists);
		r |= buf_put_u64(out, le->keys[i].mtime_ns);
		r |= buf_put_u64(out, le->keys[i].size);
		r |= buf_put_u64(out, le->keys[i].ino);
	}
	r |= buf_put_u32(out, le->nvars);
	for (uint32_t i = 0; i < le->nvars; i++)
		r |= buf_put_cstr(out, le->vars[i]);
	return r ? -1 : 0;
}

int loginenv_decode(const void *p, size_t n, struct loginenv *le)
{
	struct rd r;
	memset(le, 0, sizeof(*le));
	rd_init(&r, p, n);
	if (rd_u32(&r) != LOGINENV_CACHE_MAGIC)
		rd_fail(&r);
	le->shell = rd_cstr(&r, PATH_REL_MAX);
	uint32_t nk = rd_u32(&r);
	if (nk > ARRAY_LEN(key_files))
		rd_fail(&r);
	for (uint32_t i = 0; rd_ok(&r) && i < nk; i++) {
		struct loginenv_key k;
		k.path = rd_cstr(&r, PATH_REL_MAX);
		k.exists = rd_u8(&r);
		k.mtime_ns = rd_u64(&r);
		k.size = rd_u64(&r);
		k.ino = rd_u64(&r);
		if (k.path == NULL)
			break;
		le->keys = xrealloc(le->keys, (le->nkeys + 1) * sizeof(*le->keys));
		le->keys[le->nkeys++] = k;
	}
	if (rd_ok(&r))
		vars_decode(&r, &le->vars, &le->nvars);
	rd_expect_end(&r);
	if (!rd_ok(&r)) {
		loginenv_release(le);
		return -1;
	}
	return 0;
}

int loginenv_parse_dump(const void *p, size_t n, char ***vars, uint32_t *nvars)
{
	const size_t ml = sizeof(LOGINENV_DUMP_MAGIC) - 1;
	const uint8_t *m = memmem(p, n, LOGINENV_DUMP_MAGIC, ml);
	struct rd r;
	*vars = NULL;
	*nvars = 0;
	if (m == NULL)
		return -1;
	size_t off = (size_t)(m - (const uint8_t *)p) + ml;
	rd_init(&r, (const uint8_t *)p + off, n - off);
	int ret = vars_decode(&r, vars, nvars);
	rd_expect_end(&r);
	if (ret < 0 || !rd_ok(&r)) {
		for (uint32_t i = 0; *vars && i < *nvars; i++)
			free((*vars)[i]);
		free(*vars);
		*vars = NULL;
		*nvars = 0;
		return -1;
	}
	return 0;
}

int loginenv_dump_self(void)
{
	extern char **environ;
	struct buf b;
	uint32_t n = 0;
	buf_init(&b, LOGIN_ENV_MAX);
	for (char **e = environ; *e; e++)
		n++;
	int r = buf_put(&b, LOGINENV_DUMP_MAGIC, sizeof(LOGINENV_DUMP_MAGIC) - 1);
	r |= buf_put_u32(&b, n);
	for (char **e = environ; *e; e++)
		r |= buf_put_cstr(&b, *e);
	if (r == 0)
		r = write_all(1, b.data, b.len);
	buf_release(&b);
	return r ? -1 : 0;
}

static char *login_shell(void)
{
	/* As agent_user_shell: the file, $SHELL, then getent. */
	struct user_ent u;
	if (names_user_files(getuid(), &u) == 0 && u.shell[0] == '/')
		return xstrdup(u.shell);
	const char *s = getenv("SHELL");
	if (s && s[0] == '/')
		return xstrdup(s);
	if (names_user(getuid(), &u) == 0 && u.shell[0] == '/')
		return xstrdup(u.shell);
	return xstrdup("/bin/sh");
}

static void keys_current(const char *home, struct loginenv *le)
{
	le->keys = xcalloc(ARRAY_LEN(key_files), sizeof(*le->keys));
	le->nkeys = ARRAY_LEN(key_files);
	for (size_t i = 0; i < ARRAY_LEN(key_files); i++) {
		struct loginenv_key *k = &le->keys[i];
		struct stat st;
		const char *f = key_files[i];
		k->path = f[0] == '~' ? xasprintf("%s%s", home, f + 1) : xstrdup(f);
		if (stat(k->path, &st) == 0) {
			k->exists = 1;
			k->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
			k->size = (uint64_t)st.st_size;
			k->ino = (uint64_t)st.st_ino;
		}
	}
}

static bool keys_equal(const struct loginenv *a, const struct loginenv *b)
{
	if (a->nkeys != b->nkeys || strcmp(a->shell, b->shell) != 0)
		return false;
	for (uint32_t i = 0; i < a->nkeys; i++) {
		const struct loginenv_key *x = &a->keys[i], *y = &b->keys[i];
		if (strcmp(x->path, y->path) != 0 || x->exists != y->exists ||
		    x->mtime_ns != y->mtime_ns || x->size != y->size || x->ino != y->ino)
			return false;
	}
	return true;
}

static int resolve(const char *shell, char ***vars, uint32_t *nvars, char **why)
{
	/* Ourselves as the file this process runs, /proc/PID/exe, not by
	 * its path: that would be looked up again, and the agent folder's
	 * path may pass through folders other users can change. */
	char *self = xasprintf("/proc/%ld/exe", (long)getpid());
	if (access(self, X_OK) < 0) {
		*why = xasprintf("cannot find the ferry executable (%s): %s", self, strerror(errno));
		free(self);
		return -1;
	}
	char *cmd = xasprintf("exec %s agent --dump-env", self);
	free(self);
	const char *base = strrchr(shell, '/') ? strrchr(shell, '/') + 1 : shell;
	bool csh = strcmp(base, "csh") == 0 || strcmp(base, "tcsh") == 0;
	char *argv_l[] = { (char *)shell, "-l", "-i", "-c", cmd, NULL };
	char *argv_c[] = { (char *)shell, "-i", "-c", cmd, NULL };
	struct spawn_opts o = { .in = SPAWN_NULL, .out = SPAWN_PIPE, .err = SPAWN_NULL, .new_session = true };
	struct child ch;
	struct buf out;
	int r = -1;

	buf_init(&out, LOGIN_ENV_MAX + 65536);
	int sr = spawn(csh ? argv_c : argv_l, &o, &ch);
	free(cmd);
	if (sr < 0) {
		*why = xasprintf("cannot start login shell '%s': %s", shell, strerror(-sr));
		goto out;
	}
	/* Done when the dump parses (it is the last thing the shell does), or
	 * shortly after the shell exits: a background process started by an
	 * rc file may hold the pipe open long after. */
	uint64_t deadline = now_mono_ns() + (uint64_t)LOGIN_ENV_TIMEOUT_MS * 1000000u;
	bool reaped = false, parsed = false;
	int st = 0;
	for (;;) {
		uint64_t now = now_mono_ns();
		if (now >= deadline) {
			if (!reaped)
				*why = xasprintf("login shell '%s' did not finish within %d s", shell, LOGIN_ENV_TIMEOUT_MS / 1000);
			break;
		}
		if (!reaped && waitpid(ch.pid, &st, WNOHANG) == ch.pid) {
			reaped = true;
			uint64_t grace = now + LOGIN_ENV_EXIT_GRACE_MS * 1000000ull;
			if (grace < deadline)
				deadline = grace;
		}
		struct pollfd p = { .fd = ch.out, .events = POLLIN };
		int pr = poll(&p, 1, 50);
		if (pr <= 0)
			continue;
		uint8_t *d = buf_space(&out, 65536);
		if (d == NULL) {
			*why = xasprintf("login shell '%s' printed too much", shell);
			break;
		}
		ssize_t n = read(ch.out, d, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_commit(&out, (size_t)n);
		if (loginenv_parse_dump(out.data, out.len, vars, nvars) == 0) {
			parsed = true;
			break;
		}
	}
	child_close(&ch);
	if (!reaped) {
		/* Our own dump exits right after writing; anything else is a
		 * shell still running past its limit. */
		if (!parsed)
			kill(-ch.pid, SIGKILL);
		wait_child(ch.pid, &st);
	}
	if (parsed) {
		r = 0;
	} else if (*why == NULL) {
		*why = xasprintf("login shell '%s' exited without reporting its environment (status %d)",
				 shell, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
out:
	buf_release(&out);
	return r;
}

static bool name_in(const char *var, const char *const *list, size_t n)
{
	size_t vl = strcspn(var, "=");
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == vl && strncmp(var, list[i], vl) == 0)
			return true;
	return false;
}

int loginenv_get(char ***envp, char **why, bool *cached)
{
	struct loginenv cur = { 0 }, old = { 0 };
	char *home = user_home();
	char *dir = NULL, *file = NULL, *data = NULL;
	size_t len;
	const char *dwhy;
	int r = -1;

	*why = NULL;
	*cached = false;
	cur.shell = login_shell();
	keys_current(home, &cur);

	const char *xdg = getenv("XDG_CACHE_HOME");
	dir = xdg && xdg[0] == '/' ? xasprintf("%s/ferry", xdg) : xasprintf("%s/.cache/ferry", home);
	file = xasprintf("%s/login-env", dir);
	if (read_file(file, LOGIN_ENV_MAX + 65536, &data, &len) == 0 &&
	    loginenv_decode(data, len, &old) == 0 && keys_equal(&old, &cur)) {
		cur.vars = old.vars;
		cur.nvars = old.nvars;
		old.vars = NULL;
		old.nvars = 0;
		*cached = true;
	} else if (resolve(cur.shell, &cur.vars, &cur.nvars, why) < 0) {
		goto out;
	} else {
		struct buf b;
		buf_init(&b, SIZE_MAX);
		/* A cache we cannot write only costs time next run. */
		if (loginenv_encode(&cur, &b) == 0 && dir_private(dir, &dwhy) == 0)
			(void)write_file_atomic(file, b.data, b.len, 0600, 0);
		buf_release(&b);
	}

	/* Login variables, minus bookkeeping and session variables, plus this
	 * session's own. */
	extern char **environ;
	size_t n = 0, cap = cur.nvars + ARRAY_LEN(session_vars) + 1;
	char **v = xcalloc(cap, sizeof(char *));
	for (uint32_t i = 0; i < cur.nvars; i++) {
		if (name_in(cur.vars[i], drop_vars, ARRAY_LEN(drop_vars)) ||
		    name_in(cur.vars[i], session_vars, ARRAY_LEN(session_vars)))
			continue;
		v[n++] = xstrdup(cur.vars[i]);
	}
	for (char **e = environ; *e && n + 1 < cap; e++)
		if (name_in(*e, session_vars, ARRAY_LEN(session_vars)))
			v[n++] = xstrdup(*e);
	v[n] = NULL;
	*envp = v;
	r = 0;
out:
	loginenv_release(&cur);
	loginenv_release(&old);
	free(home);
	free(dir);
	free(file);
	free(data);
	return r;
}
