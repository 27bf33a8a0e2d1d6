/*
 * config.c - ferry.ini: parse with inih, validate, explain.
 *
 * inih does the INI grammar; we feed it lines through our own reader so
 * that the limits (file size, line length, no binary bytes) are enforced
 * before inih sees a byte and so that every key knows its line number.
 * Multi-line values are off: a continuation line would hide a typo.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "util.h"

#include "banned.h"

static const struct key_def {
	const char *section, *name;
	bool list;
} keys[KEY__COUNT] = {
	[KEY_TYPE] = { "target", "type", false },
	[KEY_HOST] = { "target", "host", false },
	[KEY_PATH] = { "target", "path", false },
	[KEY_SSH_COMMAND] = { "target", "ssh_command", false },
	[KEY_AGENT_DIR] = { "target", "agent_dir", false },
	[KEY_SHARED] = { "target", "shared", false },
	[KEY_PUSH] = { "sync", "push", true },
	[KEY_PULL] = { "sync", "pull", true },
	[KEY_IGNORE] = { "sync", "ignore", true },
	[KEY_PULL_IGNORE] = { "sync", "pull_ignore", true },
	[KEY_MAX_MEM] = { "jobs", "max_mem", false },
	[KEY_MIN_AVAILABLE] = { "guard", "min_available", false },
};

const char *config_key_name(enum config_key k)
{
	static char names[KEY__COUNT][48];
	if (names[k][0] == '\0')
		snprintf(names[k], sizeof(names[k]), "%s.%s", keys[k].section, keys[k].name);
	return names[k];
}

void strlist_add(struct strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(s);
}

void strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void config_release(struct config *c)
{
	if (c == NULL)
		return;
	free(c->root);
	free(c->file);
	free(c->host);
	free(c->path);
	free(c->ssh_command);
	free(c->agent_dir);
	strlist_release(&c->push);
	strlist_release(&c->pull);
	strlist_release(&c->ignore);
	strlist_release(&c->pull_ignore);
	memset(c, 0, sizeof(*c));
}

struct parse_ctx {
	struct config *c;
	const char *file;
	const char *text;
	size_t len, pos;
	int line;		/* line number of the line inih holds now */
	char *err;		/* first error, "file:line: message" */
};

static void ctx_error(struct parse_ctx *x, int line, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void ctx_error(struct parse_ctx *x, int line, const char *fmt, ...)
{
	if (x->err != NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	x->err = line > 0 ? xasprintf("%s:%d: %s", x->file, line, m) : xasprintf("%s: %s", x->file, m);
	free(m);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > CONFIG_SUGGEST_KEY_MAX || lb > CONFIG_SUGGEST_KEY_MAX)
		return 99;
	size_t d[CONFIG_SUGGEST_KEY_MAX + 1][CONFIG_SUGGEST_KEY_MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			/* transposition */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb];
}

static bool section_known(const char *s)
{
	for (size_t k = 0; k < KEY__COUNT; k++)
		if (strcmp(keys[k].section, s) == 0)
			return true;
	return false;
}

/* "did you mean" for a section name or a key within a section. */
static const char *suggest(const char *section, const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;
	for (size_t k = 0; k < KEY__COUNT; k++) {
		const char *cand = section ? keys[k].name : keys[k].section;
		if (section && strcmp(keys[k].section, section) != 0)
			continue;
		size_t d = edit_distance(name, cand);
		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	return best;
}

/* Our reader: one line per call, limits enforced, line numbers counted. */
static char *ini_line_reader(char *str, int num, void *stream)
{
	struct parse_ctx *x = stream;
	if (x->err != NULL || x->pos >= x->len)
		return NULL;
	const char *s = x->text + x->pos;
	const char *nl = memchr(s, '\n', x->len - x->pos);
	size_t n = nl ? (size_t)(nl - s) + 1 : x->len - x->pos;
	x->line++;
	size_t body = n - (nl != NULL);
	if (body > 0 && s[body - 1] == '\r')
		body--;
	if (body > CONFIG_LINE_MAX || n + 1 > (size_t)num) {
		ctx_error(x, x->line, "line is too long (at most %d bytes)", CONFIG_LINE_MAX);
		return NULL;
	}
	for (size_t i = 0; i < body; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			ctx_error(x, x->line, "binary data in the file (byte 0x%02x); is this really a ferry.ini?", ch);
			return NULL;
		}
	}
	/* Sections are checked here: inih reports only sections with keys. */
	const char *t = s;
	while (t < s + body && (*t == ' ' || *t == '\t'))
		t++;
	if (t < s + body && *t == '[') {
		const char *e = memchr(t, ']', (size_t)(s + body - t));
		if (e == NULL) {
			ctx_error(x, x->line, "section header without ']'");
			return NULL;
		}
		char *name = xstrndup(t + 1, (size_t)(e - t - 1));
		if (!section_known(name)) {
			const char *sg = suggest(NULL, name);
			if (sg)
				ctx_error(x, x->line, "unknown section '[%s]' (did you mean '[%s]'?)", name, sg);
			else
				ctx_error(x, x->line, "unknown section '[%s]' (known: [target], [sync])", name);
		}
		free(name);
		if (x->err)
			return NULL;
	}
	memcpy(str, s, n);
	str[n] = '\0';
	x->pos += n;
	return str;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return true;
	return false;
}

static int list_add_items(struct parse_ctx *x, struct strlist *l, const char *value, enum config_key k)
{
	const char *s = value;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			break;
		const char *e = s;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (l->n >= CONFIG_LIST_MAX) {
			ctx_error(x, x->line, "too many items in '%s' (at most %d)", config_key_name(k), CONFIG_LIST_MAX);
			return 0;
		}
		char *item = xstrndup(s, (size_t)(t - s));
		if (k != KEY_IGNORE && k != KEY_PULL_IGNORE) {
			/* push/pull are folders relative to the project root. */
			size_t il = strlen(item);
			while (il > 1 && item[il - 1] == '/')
				item[--il] = '\0';
			if (strcmp(item, ".") != 0 && path_check_rel(item, il) < 0) {
				ctx_error(x, x->line, "'%s' in '%s' must be a folder inside the project (no '..', not absolute)",
					  item, config_key_name(k));
				free(item);
				return 0;
			}
		}
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
		l->v[l->n++] = item;
		s = e;
	}
	return 1;
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *x = user;
	struct config *c = x->c;
	int k;

	if (x->err != NULL)
		return 0;
	if (section[0] == '\0') {
		ctx_error(x, x->line, "key '%s' outside a section (put it under [target] or [sync])", name);
		return 0;
	}
	for (k = 0; k < KEY__COUNT; k++)
		if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
			break;
	if (k == KEY__COUNT) {
		const char *sg = suggest(section, name);
		if (sg)
			ctx_error(x, x->line, "unknown key '%s' (did you mean '%s'?)", name, sg);
		else
			ctx_error(x, x->line, "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (c->line[k] && !keys[k].list) {
		ctx_error(x, x->line, "duplicate key '%s' (first set on line %d)", name, c->line[k]);
		return 0;
	}
	if (!keys[k].list && value[0] == '\0') {
		ctx_error(x, x->line, "'%s' has no value", name);
		return 0;
	}
	if (has_control(value)) {
		ctx_error(x, x->line, "control character in the value of '%s'", name);
		return 0;
	}
	if (!c->line[k])
		c->line[k] = x->line;
	switch ((enum config_key)k) {
	case KEY_TYPE:
		if (strcmp(value, "ssh") == 0)
			c->kind = TARGET_SSH;
		else if (strcmp(value, "local") == 0)
			c->kind = TARGET_LOCAL;
		else {
			ctx_error(x, x->line, "unknown target type '%s' (use 'ssh' or 'local')", value);
			return 0;
		}
		break;
	case KEY_HOST:
		if (value[0] == '-' || strpbrk(value, " \t'\"\\") != NULL) {
			ctx_error(x, x->line, "'%s' is not a usable ssh host (no leading '-', spaces or quotes)", value);
			return 0;
		}
		c->host = xstrdup(value);
		break;
	case KEY_PATH:
		c->path = xstrdup(value);
		break;
	case KEY_SSH_COMMAND: {
		char **w;
		if (split_words(value, &w) < 0) {
			ctx_error(x, x->line, "cannot split ssh_command into words (unbalanced quote?)");
			return 0;
		}
		free_words(w);
		c->ssh_command = xstrdup(value);
		break;
	}
	case KEY_AGENT_DIR:
		c->agent_dir = xstrdup(value);
		break;
	case KEY_SHARED:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			c->shared = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			c->shared = false;
		else {
			ctx_error(x, x->line, "shared must be yes or no, not '%s'", value);
			return 0;
		}
		break;
	case KEY_PUSH:
		return list_add_items(x, &c->push, value, KEY_PUSH);
	case KEY_PULL:
		return list_add_items(x, &c->pull, value, KEY_PULL);
	case KEY_IGNORE:
		return list_add_items(x, &c->ignore, value, KEY_IGNORE);
	case KEY_PULL_IGNORE:
		return list_add_items(x, &c->pull_ignore, value, KEY_PULL_IGNORE);
	case KEY_MAX_MEM:
	case KEY_MIN_AVAILABLE: {
		uint64_t v;
		if (parse_size(value, &v) < 0) {
			ctx_error(x, x->line, "'%s' is not a size like 512M, 8G or 1.5T", value);
			return 0;
		}
		*(k == KEY_MAX_MEM ? &c->max_mem : &c->min_available) = v;
		break;
	}
	case KEY__COUNT:
		break;
	}
	return 1;
}

int config_parse(struct config *c, const char *file, const char *text, size_t len, char **err)
{
	struct parse_ctx x = { .c = c, .file = file, .text = text, .len = len };

	*err = NULL;
	if (len > CONFIG_FILE_MAX) {
		*err = xasprintf("%s: file is too large (at most %d bytes)", file, CONFIG_FILE_MAX);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		/* Find the line for the message. */
		int line = 1;
		for (const char *p = text; *p; p++)
			line += *p == '\n';
		*err = xasprintf("%s:%d: binary data in the file (byte 0x00); is this really a ferry.ini?", file, line);
		return -1;
	}
	/* Debian's inih exposes its options at run time. */
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = CONFIG_LINE_MAX + 8;
	ini_allow_no_value = false;

	int r = ini_parse_stream(ini_line_reader, &x, ini_handler_cb, &x);
	if (x.err == NULL && r > 0)
		ctx_error(&x, r, "cannot parse this line (expected 'key = value' or '[section]')");
	else if (x.err == NULL && r < 0)
		ctx_error(&x, 0, "cannot parse (error %d)", r);

	if (x.err == NULL) {
		if (c->kind == TARGET_NONE)
			ctx_error(&x, 0, "[target] has no 'type' (use 'ssh' or 'local'; `ferry init` writes one)");
		else if (c->kind == TARGET_SSH && c->host == NULL)
			ctx_error(&x, 0, "[target] has type 'ssh' but no 'host'");
		else if (c->path == NULL)
			ctx_error(&x, 0, "[target] has no 'path'");
		else if (c->kind == TARGET_LOCAL && c->host != NULL)
			ctx_error(&x, c->line[KEY_HOST], "'host' is only for type 'ssh'");
	}
	if (x.err != NULL) {
		*err = x.err;
		return -1;
	}
	return 0;
}

/* Is a (absolute, normalised) the folder b or below it? */
static bool path_at_or_below(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (strcmp(b, "/") == 0)
		return true;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

int config_load(struct config *c, const char *dir, char **err)
{
	char *d = path_absolute(dir);
	char *text = NULL;
	size_t len;
	int r = -ENOENT;

	memset(c, 0, sizeof(*c));
	*err = NULL;
	for (int depth = 0; depth < CONFIG_DIR_DEPTH_MAX; depth++) {
		char *f = xasprintf("%s%s%s", d, strcmp(d, "/") ? "/" : "", CONFIG_NAME);
		r = read_file(f, CONFIG_FILE_MAX, &text, &len);
		if (r == 0 || r != -ENOENT) {
			c->file = f;
			break;
		}
		free(f);
		if (strcmp(d, "/") == 0)
			break;
		char *slash = strrchr(d, '/');
		if (slash == d)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (r == -EFBIG) {
		*err = xasprintf("%s: file is too large (at most %d bytes)", c->file, CONFIG_FILE_MAX);
		r = -1;
	} else if (r < 0 && r != -ENOENT) {
		*err = xasprintf("cannot read '%s': %s", c->file, strerror(-r));
		r = -1;
	}
	if (r < 0) {
		free(d);
		config_release(c);
		return r;
	}
	c->root = d;
	r = config_parse(c, c->file, text, len, err);
	free(text);
	if (r < 0)
		return r;

	const char *env = getenv("FERRY_SSH_COMMAND");
	if (env != NULL && env[0] != '\0') {
		char **w;
		if (split_words(env, &w) < 0) {
			*err = xstrdup("cannot split FERRY_SSH_COMMAND into words (unbalanced quote?)");
			return -1;
		}
		free_words(w);
		free(c->ssh_command);
		c->ssh_command = xstrdup(env);
		c->ssh_command_src = "FERRY_SSH_COMMAND";
	} else if (c->ssh_command != NULL) {
		c->ssh_command_src = "file";
	} else {
		c->ssh_command = xstrdup("ssh");
		c->ssh_command_src = "default";
	}
	if (c->kind == TARGET_LOCAL && c->path[0] != '/') {
		char *abs = xasprintf("%s/%s", c->root, c->path);
		free(c->path);
		c->path = path_absolute(abs);
		free(abs);
		/* The line limit bounds the value; the project folder in front
		 * of a relative one may not. */
		if (strlen(c->path) > PATH_REL_MAX) {
			*err = xasprintf("%s:%d: 'path' becomes '%.40s...', longer than %d bytes", c->file,
					 c->line[KEY_PATH], c->path, PATH_REL_MAX);
			return -1;
		}
	}
	/* A local target in the project (path = sub) or above it: each push
	 * would copy the project into itself, a pull would write into the
	 * tree it reads.  ferry init refuses it; a hand-written file too. */
	if (c->kind == TARGET_LOCAL) {
		char *p = path_absolute(c->path);
		bool bad = path_at_or_below(p, c->root) || path_at_or_below(c->root, p);
		free(p);
		if (bad) {
			*err = xasprintf("%s:%d: the local target '%s' must be outside the project folder '%s' and not contain it",
					 c->file, c->line[KEY_PATH], c->path, c->root);
			return -1;
		}
	}
	return 0;
}

char *config_render(enum target_kind kind, const char *host, const char *path)
{
	if (kind == TARGET_LOCAL)
		return xasprintf(
			"# ferry project file: see `ferry help config`.\n"
			"[target]\n"
			"# 'local' runs the agent on this machine, in the folder below.\n"
			"type = local\n"
			"path = %s\n"
			"\n"
			"[sync]\n"
			"# push = .\n"
			"# pull = results\n"
			"# ignore = *.ckpt, data/\n"
			"# pull_ignore = *.tmp\n", path);
	return xasprintf(
		"# ferry project file: see `ferry help config`.\n"
		"[target]\n"
		"type = ssh\n"
		"# A host alias from ~/.ssh/config, or user@host.\n"
		"host = %s\n"
		"# The project folder on the server ('~/' is your home there).\n"
		"path = %s\n"
		"# ssh_command = ssh -F ~/.ssh/other_config\n"
		"# agent_dir = /scratch/me/ferry-agent\n"
		"\n"
		"[sync]\n"
		"# push = .\n"
		"# pull = results\n"
		"# ignore = *.ckpt, data/\n"
		"# pull_ignore = *.tmp\n", host, path);
}
