/*
 * config.c - ferry.ini: parse with inih, validate, explain.
 *
 * inih does the INI grammar; we feed it lines through our own reader so
 * that the limits (file size, line length, no binary bytes) are enforced
 * before inih sees a byte and so that every key knows its line number.
 * Multi-line values are off: a continuation line would hide a typo.
 *
 * The same parser reads the user's own file (~/.config/ferry/config.ini):
 * only the keys marked KF_USER, in [target], [host "NAME"] or [project
 * "/PATH"].  A key marked KF_PROGRAM names a program run on this computer:
 * from a project's ferry.ini it is used only once the user trusts the
 * file (trust.c); a new such key needs only the mark.
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
#include "trust.h"
#include "util.h"

#include "banned.h"

enum {
	KF_USER = 1,	/* may be set in the user's file too */
	KF_PROGRAM = 2,	/* names a program run here: ferry.ini needs trust */
};

static const struct key_def {
	const char *section, *name;
	bool list;
	unsigned flags;		/* KF_*; user keys are single strings */
	const char *env;	/* environment variable that overrides it */
} keys[KEY__COUNT] = {
	[KEY_TYPE] = { "target", "type", false },
	[KEY_HOST] = { "target", "host", false },
	[KEY_PATH] = { "target", "path", false },
	[KEY_SSH_COMMAND] = { "target", "ssh_command", false, KF_USER | KF_PROGRAM, "FERRY_SSH_COMMAND" },
	[KEY_AGENT_DIR] = { "target", "agent_dir", false, KF_USER, NULL },
	[KEY_SHARED] = { "target", "shared", false },
	[KEY_PUSH] = { "sync", "push", true },
	[KEY_PULL] = { "sync", "pull", true },
	[KEY_IGNORE] = { "sync", "ignore", true },
	[KEY_PULL_IGNORE] = { "sync", "pull_ignore", true },
	[KEY_MAX_MEM] = { "jobs", "max_mem", false },
	[KEY_MIN_AVAILABLE] = { "guard", "min_available", false },
	[KEY_FWD_AUTO] = { "forward", "auto", false },
	[KEY_FWD_SKIP] = { "forward", "skip", false },
	[KEY_FWD_PORTS] = { "forward", "ports", false },
};

const char *config_key_name(enum config_key k)
{
	static char names[KEY__COUNT][48];
	if (names[k][0] == '\0')
		snprintf(names[k], sizeof(names[k]), "%s.%s", keys[k].section, keys[k].name);
	return names[k];
}

bool config_key_program(enum config_key k)
{
	return (keys[k].flags & KF_PROGRAM) != 0;
}

bool config_key_user(enum config_key k)
{
	return (keys[k].flags & KF_USER) != 0;
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
	free(c->user_file);
	for (int k = 0; k < KEY__COUNT; k++)
		free(c->file_program[k]);
	memset(c, 0, sizeof(*c));
}

void user_vals_release(struct user_vals *u)
{
	for (int s = 0; s < SCOPE__COUNT; s++)
		for (int k = 0; k < KEY__COUNT; k++)
			free(u->val[s][k]);
	memset(u, 0, sizeof(*u));
}

struct parse_ctx {
	struct config *c;
	const char *file;
	const char *text;
	size_t len, pos;
	int line;		/* line number of the line inih holds now */
	char *err;		/* first error, "file:line: message" */
	/* The user's file: the section the reader is in, whether it applies
	 * to this project (host, root), the keys it set so far. */
	bool user;
	struct user_vals *u;
	const char *host, *root;
	bool in_section, applies;
	enum user_scope scope;
	int sec_line[KEY__COUNT];
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

/* "[host \"NAME\"]" -> NAME (caller frees), or NULL. */
static char *quoted_arg(const char *section, const char *word)
{
	size_t wl = strlen(word), l = strlen(section);
	if (strncmp(section, word, wl) != 0 || section[wl] != ' ' || section[wl + 1] != '"' || l < wl + 3 ||
	    section[l - 1] != '"')
		return NULL;
	char *a = xstrndup(section + wl + 2, l - wl - 3);
	if (strchr(a, '"') != NULL) {
		free(a);
		return NULL;
	}
	return a;
}

/* A section header of the user's file: which scope, and whether it
 * applies to this project. */
static void user_section(struct parse_ctx *x, const char *name)
{
	char *arg;
	memset(x->sec_line, 0, sizeof(x->sec_line));
	x->in_section = true;
	if (strcmp(name, "target") == 0) {
		x->scope = SCOPE_ALL;
		x->applies = true;
	} else if ((arg = quoted_arg(name, "host")) != NULL) {
		if (arg[0] == '\0' || arg[0] == '-' || strpbrk(arg, " \t'\"\\") != NULL)
			ctx_error(x, x->line, "'%s' is not a usable ssh host (no leading '-', spaces or quotes)", arg);
		x->scope = SCOPE_HOST;
		x->applies = x->host != NULL && strcmp(arg, x->host) == 0;
		free(arg);
	} else if ((arg = quoted_arg(name, "project")) != NULL) {
		char *p = NULL;
		if (strncmp(arg, "~/", 2) == 0) {
			char *home = user_home();
			p = xasprintf("%s/%s", home, arg + 2);
			free(home);
		} else if (arg[0] == '/') {
			p = xstrdup(arg);
		} else {
			ctx_error(x, x->line, "'%s' is not an absolute path (a project folder: /PATH or ~/PATH)", arg);
		}
		x->scope = SCOPE_PROJECT;
		x->applies = false;
		if (p != NULL) {
			char *n = path_absolute(p);
			x->applies = x->root != NULL && strcmp(n, x->root) == 0;
			free(n);
			free(p);
		}
		free(arg);
	} else {
		ctx_error(x, x->line, "unknown section '[%s]' (known here: [target], [host \"NAME\"], [project \"/PATH\"])", name);
	}
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
		if (x->user) {
			user_section(x, name);
		} else if (!section_known(name)) {
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

/* A switch: yes/true/on or no/false/off.  0, or -1 for anything else. */
static int parse_switch(const char *v, bool *on)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0)
		*on = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0)
		*on = false;
	else
		return -1;
	return 0;
}

/* forward.skip and forward.ports: port numbers, by commas or spaces. */
static int port_list(struct parse_ctx *x, enum config_key k, uint16_t *v, uint32_t *n, const char *value)
{
	*n = 0;
	for (const char *s = value; *s;) {
		if (*s == ' ' || *s == '\t' || *s == ',') {
			s++;
			continue;
		}
		char *end;
		unsigned long p = strtoul(s, &end, 10);
		if (end == s || p == 0 || p > 65535 || (*end && *end != ' ' && *end != '\t' && *end != ',')) {
			ctx_error(x, x->line, "%s wants port numbers (22, 5432), not '%s'", config_key_name(k), value);
			return 0;
		}
		if (*n == CONFIG_SKIP_MAX) {
			ctx_error(x, x->line, "too many ports in %s (at most %d)", config_key_name(k), CONFIG_SKIP_MAX);
			return 0;
		}
		v[(*n)++] = (uint16_t)p;
		s = end;
	}
	return 1;
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

/* A program's command line: split into words as it will be run. */
static bool program_ok(struct parse_ctx *x, enum config_key k, const char *value)
{
	char **w;
	if (split_words(value, &w) < 0) {
		ctx_error(x, x->line, "cannot split %s into words (unbalanced quote?)", keys[k].name);
		return false;
	}
	free_words(w);
	return true;
}

/* A key of the user's file. */
static int user_key(struct parse_ctx *x, const char *name, const char *value)
{
	int k;
	if (!x->in_section) {
		ctx_error(x, x->line, "key '%s' outside a section (put it under [target], [host \"NAME\"] or [project \"/PATH\"])", name);
		return 0;
	}
	for (k = 0; k < KEY__COUNT; k++)
		if (strcmp(keys[k].section, "target") == 0 && strcmp(keys[k].name, name) == 0)
			break;
	if (k == KEY__COUNT || !(keys[k].flags & KF_USER)) {
		char known[256] = "";
		for (int j = 0; j < KEY__COUNT; j++)
			if (keys[j].flags & KF_USER)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", known[0] ? ", " : "", keys[j].name);
		const char *sg = k == KEY__COUNT ? suggest("target", name) : NULL;
		if (k < KEY__COUNT)
			ctx_error(x, x->line, "'%s' belongs in a project's ferry.ini (this file holds %s)", name, known);
		else if (sg)
			ctx_error(x, x->line, "unknown key '%s' (did you mean '%s'?)", name, sg);
		else
			ctx_error(x, x->line, "unknown key '%s' (this file holds %s)", name, known);
		return 0;
	}
	if (x->sec_line[k]) {
		ctx_error(x, x->line, "duplicate key '%s' (first set on line %d)", name, x->sec_line[k]);
		return 0;
	}
	x->sec_line[k] = x->line;
	if (value[0] == '\0') {
		ctx_error(x, x->line, "'%s' has no value", name);
		return 0;
	}
	if (has_control(value)) {
		ctx_error(x, x->line, "control character in the value of '%s'", name);
		return 0;
	}
	if ((keys[k].flags & KF_PROGRAM) && !program_ok(x, (enum config_key)k, value))
		return 0;
	if (!x->applies)
		return 1;
	if (x->u->val[x->scope][k] != NULL) {
		ctx_error(x, x->line, "duplicate key '%s' (first set on line %d)", name, x->u->line[x->scope][k]);
		return 0;
	}
	x->u->val[x->scope][k] = xstrdup(value);
	x->u->line[x->scope][k] = x->line;
	return 1;
}

static int ini_handler_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *x = user;
	struct config *c = x->c;
	int k;

	if (x->err != NULL)
		return 0;
	if (x->user)
		return user_key(x, name, value);
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
	c->src[k] = SRC_PROJECT;
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
	case KEY_SSH_COMMAND:
		if (!program_ok(x, KEY_SSH_COMMAND, value))
			return 0;
		c->ssh_command = xstrdup(value);
		break;
	case KEY_AGENT_DIR:
		c->agent_dir = xstrdup(value);
		break;
	case KEY_SHARED:
		if (parse_switch(value, &c->shared) < 0) {
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
	case KEY_FWD_AUTO: {
		bool on;
		if (parse_switch(value, &on) < 0) {
			ctx_error(x, x->line, "auto must be on or off, not '%s'", value);
			return 0;
		}
		c->fwd_off = !on;
		break;
	}
	case KEY_FWD_SKIP:
		return port_list(x, k, c->fwd_skip, &c->fwd_nskip, value);
	case KEY_FWD_PORTS:
		return port_list(x, k, c->fwd_ports, &c->fwd_nports, value);
	case KEY__COUNT:
		break;
	}
	if (keys[k].flags & KF_PROGRAM)
		c->file_program[k] = xstrdup(value);
	return 1;
}

/* The grammar, for both files: 0, or -1 with x->err set. */
static int parse_run(struct parse_ctx *x)
{
	const char *file = x->file, *text = x->text;
	size_t len = x->len;

	if (len > CONFIG_FILE_MAX) {
		x->err = xasprintf("%s: file is too large (at most %d bytes)", file, CONFIG_FILE_MAX);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		/* Find the line for the message. */
		int line = 1;
		for (const char *p = text; *p; p++)
			line += *p == '\n';
		x->err = xasprintf("%s:%d: binary data in the file (byte 0x00); is this really a ferry.ini?", file, line);
		return -1;
	}
	/* Debian's inih exposes its options at run time. */
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = CONFIG_LINE_MAX + 8;
	ini_allow_no_value = false;

	int r = ini_parse_stream(ini_line_reader, x, ini_handler_cb, x);
	if (x->err == NULL && r > 0)
		ctx_error(x, r, "cannot parse this line (expected 'key = value' or '[section]')");
	else if (x->err == NULL && r < 0)
		ctx_error(x, 0, "cannot parse (error %d)", r);
	return x->err != NULL ? -1 : 0;
}

int config_parse_user(struct user_vals *u, const char *file, const char *text, size_t len,
		      const char *host, const char *root, char **err)
{
	struct config none = { 0 };
	struct parse_ctx x = { .c = &none, .file = file, .text = text, .len = len,
			       .user = true, .u = u, .host = host, .root = root };
	*err = NULL;
	if (parse_run(&x) < 0) {
		*err = x.err;
		user_vals_release(u);
		return -1;
	}
	return 0;
}

int config_parse(struct config *c, const char *file, const char *text, size_t len, char **err)
{
	struct parse_ctx x = { .c = c, .file = file, .text = text, .len = len };

	*err = NULL;
	(void)parse_run(&x);
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

char *config_user_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/ferry/config.ini", xdg);
	char *home = user_home();
	char *p = xasprintf("%s/.config/ferry/config.ini", strcmp(home, "/") ? home : "");
	free(home);
	return p;
}

/* The user's file, when there is one, into u.  Refused (-1) when someone
 * else owns it or may write it, as ssh refuses such a ~/.ssh/config. */
static int user_load(struct config *c, struct user_vals *u, char **err)
{
	char *text = NULL;
	size_t len;
	const char *why = NULL;
	c->user_file = config_user_path();
	int r = read_owned(c->user_file, 0, CONFIG_FILE_MAX, &text, &len, &why);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r == -EPERM && why != NULL) {
		*err = xasprintf("'%s' %s, so ferry does not use it (chmod go-w it; it must be yours)", c->user_file, why);
		return -1;
	}
	if (r == -EFBIG) {
		*err = xasprintf("%s: file is too large (at most %d bytes)", c->user_file, CONFIG_FILE_MAX);
		return -1;
	}
	if (r < 0) {
		*err = xasprintf("cannot read '%s': %s", c->user_file, strerror(-r));
		return -1;
	}
	r = config_parse_user(u, c->user_file, text, len, c->kind == TARGET_SSH ? c->host : NULL, c->root, err);
	free(text);
	return r;
}

/* The string field of a key the user's file may set. */
static char **user_field(struct config *c, enum config_key k)
{
	switch (k) {
	case KEY_SSH_COMMAND: return &c->ssh_command;
	case KEY_AGENT_DIR: return &c->agent_dir;
	default: bug("key %s is KF_USER but has no field", config_key_name(k));
	}
}

/* Each key the user's file may set, from (first wins) the environment,
 * the user's [project], ferry.ini, the user's [host], the user's
 * [target].  0; -1 with *err for a bad environment value; 1 with *err
 * when the value in use of a program key comes from an untrusted
 * ferry.ini. */
static int resolve(struct config *c, const struct user_vals *u, char **err)
{
	static const enum user_scope after_file[] = { SCOPE_HOST, SCOPE_ALL };
	int need = -1;

	for (int k = 0; k < KEY__COUNT; k++)
		if (c->file_program[k] != NULL)
			c->program_in_file = true;
	for (int k = 0; k < KEY__COUNT; k++) {
		if (!(keys[k].flags & KF_USER))
			continue;
		char **f = user_field(c, (enum config_key)k);
		const char *env = keys[k].env ? getenv(keys[k].env) : NULL;
		const char *uv = NULL;
		int uline = 0;
		if (env != NULL && env[0] != '\0') {
			char **w;
			if ((keys[k].flags & KF_PROGRAM) && split_words(env, &w) < 0) {
				*err = xasprintf("cannot split %s into words (unbalanced quote?)", keys[k].env);
				return -1;
			}
			if (keys[k].flags & KF_PROGRAM)
				free_words(w);
			free(*f);
			*f = xstrdup(env);
			c->src[k] = SRC_ENV;
			continue;
		}
		if (u->val[SCOPE_PROJECT][k] != NULL) {
			uv = u->val[SCOPE_PROJECT][k];
			uline = u->line[SCOPE_PROJECT][k];
		} else if (c->line[k]) {
			c->src[k] = SRC_PROJECT;
			if ((keys[k].flags & KF_PROGRAM) && need < 0)
				need = k;
			continue;
		}
		for (size_t i = 0; uv == NULL && i < sizeof(after_file) / sizeof(after_file[0]); i++)
			if (u->val[after_file[i]][k] != NULL) {
				uv = u->val[after_file[i]][k];
				uline = u->line[after_file[i]][k];
			}
		if (uv != NULL) {
			free(*f);
			*f = xstrdup(uv);
			c->src[k] = SRC_USER;
			c->user_line[k] = uline;
		}
	}
	if (!c->program_in_file)
		return 0;
	const char *why = NULL;
	enum trust_state t = trust_check(c, &why);
	c->trusted = t == TRUST_OK;
	if (c->trusted || need < 0)
		return 0;
	*err = xasprintf("%s:%d sets %s, which runs a program on this computer, and %s%s%s%s",
			 c->file, c->line[need], config_key_name((enum config_key)need),
			 t == TRUST_CHANGED ? "the file changed since you trusted it" : "you have not trusted this file",
			 why ? " (your trust record " : "", why ? why : "", why ? " and was not read)" : "");
	return 1;
}

char *config_origin(const struct config *c, enum config_key k)
{
	switch (c->src[k]) {
	case SRC_ENV:
		return xstrdup(keys[k].env);
	case SRC_USER:
		return xasprintf("%s:%d", c->user_file, c->user_line[k]);
	case SRC_PROJECT:
		if (keys[k].flags & KF_PROGRAM)
			return xasprintf("%s:%d (%s)", CONFIG_NAME, c->line[k], c->trusted ? "trusted" : "NOT trusted: ferry trust");
		return xasprintf("%s:%d", CONFIG_NAME, c->line[k]);
	case SRC_DEFAULT:
		break;
	}
	return xstrdup("default");
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
	trust_hash(text, len, c->file_hash);
	r = config_parse(c, c->file, text, len, err);
	free(text);
	if (r < 0)
		return r;

	struct user_vals u = { 0 };
	if (user_load(c, &u, err) < 0)
		return -1;
	int untrusted = resolve(c, &u, err);
	user_vals_release(&u);
	if (untrusted < 0)
		return -1;
	if (c->ssh_command == NULL)
		c->ssh_command = xstrdup("ssh");
	if (c->kind == TARGET_LOCAL && c->path[0] != '/') {
		char *abs = xasprintf("%s/%s", c->root, c->path);
		free(c->path);
		c->path = path_absolute(abs);
		free(abs);
		/* The line limit bounds the value; the project folder in front
		 * of a relative one may not. */
		if (strlen(c->path) > PATH_REL_MAX) {
			free(*err);
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
			free(*err);
			*err = xasprintf("%s:%d: the local target '%s' must be outside the project folder '%s' and not contain it",
					 c->file, c->line[KEY_PATH], c->path, c->root);
			return -1;
		}
	}
	/* Last, so that the caller may still show every value. */
	return untrusted ? -EACCES : 0;
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
