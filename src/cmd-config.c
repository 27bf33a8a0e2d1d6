/*
 * cmd-config.c - `ferry config`: the effective settings and their origin.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cmd.h"
#include "util.h"

#include "banned.h"

static void row(const struct config *c, enum config_key k, const char *value, const char *dflt_src)
{
	char *where = c->src[k] == SRC_DEFAULT ? xstrdup(dflt_src) : config_origin(c, k);
	printf("%-19s %-32s %s\n", config_key_name(k), vis(value), where);
	free(where);
}

static char *join(const struct strlist *l, const char *dflt)
{
	if (l->n == 0)
		return xstrdup(dflt);
	struct buf b;
	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			buf_put(&b, ", ", 2);
		buf_put(&b, l->v[i], strlen(l->v[i]));
	}
	char *s = xstrndup((const char *)b.data, b.len);
	buf_release(&b);
	return s;
}

static char *ports_text(const uint16_t *v, uint32_t n)
{
	char *s = xstrdup(n ? "" : "(none)");
	for (uint32_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%s%u", s, i ? ", " : "", v[i]);
		free(s);
		s = t;
	}
	return s;
}

int cmd_config(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct config c;
	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			cmd_usage("config", 0);
			return 0;
		}
		cmd_usage_die("config", "unexpected '%s'", argv[1]);
	}
	char *untrusted;
	cmd_load_config_any(&c, ctx->dir, &untrusted);
	printf("%-19s %s\n", "file", vis(c.file));
	printf("%-19s %s%s\n", "user file", vis(c.user_file), access(c.user_file, F_OK) == 0 ? "" : " (none)");
	row(&c, KEY_TYPE, c.kind == TARGET_SSH ? "ssh" : "local", "");
	if (c.kind == TARGET_SSH)
		row(&c, KEY_HOST, c.host, "");
	row(&c, KEY_PATH, c.path, "");
	if (c.kind == TARGET_SSH) {
		row(&c, KEY_SSH_COMMAND, c.ssh_command, "default");
		row(&c, KEY_AGENT_DIR, c.agent_dir ? c.agent_dir : "~/.cache/ferry/agent", "default");
	}
	row(&c, KEY_SHARED, c.shared ? "yes" : "no", "default");
	char *s = join(&c.push, ".");
	row(&c, KEY_PUSH, s, "default");
	free(s);
	s = join(&c.pull, "results");
	row(&c, KEY_PULL, s, "default");
	free(s);
	s = join(&c.ignore, "(none; .gitignore files apply)");
	row(&c, KEY_IGNORE, s, "default");
	free(s);
	s = join(&c.pull_ignore, "(none; pull folders come whole)");
	row(&c, KEY_PULL_IGNORE, s, "default");
	free(s);
	s = c.max_mem ? xasprintf("%llu", (unsigned long long)c.max_mem) : xstrdup("(none)");
	row(&c, KEY_MAX_MEM, s, "default");
	free(s);
	s = c.min_available ? xasprintf("%llu", (unsigned long long)c.min_available) : xstrdup("(off)");
	row(&c, KEY_MIN_AVAILABLE, s, "default");
	free(s);
	row(&c, KEY_FWD_AUTO, c.fwd_off ? "off" : "on", "default");
	s = ports_text(c.fwd_skip, c.fwd_nskip);
	row(&c, KEY_FWD_SKIP, s, "default");
	free(s);
	s = ports_text(c.fwd_ports, c.fwd_nports);
	row(&c, KEY_FWD_PORTS, s, "default");
	free(s);
	config_release(&c);
	if (untrusted != NULL) {
		error_msg("%s", untrusted);
		hint_msg("%s", CONFIG_TRUST_HINT);
		free(untrusted);
		return EXIT_CONFIG;
	}
	return 0;
}
