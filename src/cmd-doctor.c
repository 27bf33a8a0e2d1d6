/*
 * cmd-doctor.c - `ferry doctor [--json]`: is the target ready, and if not,
 * what to do about it.  Each check is ok, warn, fail or skip, with a hint.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "limits.h"
#include "session.h"
#include "util.h"

#include "banned.h"

#define DISK_LOW_BYTES	(1024ull * 1024 * 1024)
#define CLOCK_SKEW_MAX_NS	(2ull * 1000000000u)

struct check {
	const char *name;
	const char *state;	/* ok warn fail skip */
	char *detail;
	char *hint;
};

struct report {
	struct check c[DOCTOR_CHECKS_MAX];
	int n;
	int failed;
};

static void add(struct report *r, const char *name, const char *state, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void add(struct report *r, const char *name, const char *state, const char *hint, const char *fmt, ...)
{
	if (r->n >= (int)ARRAY_LEN(r->c))
		bug("too many doctor checks");
	va_list ap;
	va_start(ap, fmt);
	struct check *c = &r->c[r->n++];
	c->name = name;
	c->state = state;
	c->detail = xvasprintf(fmt, ap);
	c->hint = hint ? xstrdup(hint) : NULL;
	va_end(ap);
	if (strcmp(state, "fail") == 0)
		r->failed++;
}

static char *find_in_path(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/bin:/bin";
	char *copy = xstrdup(path), *save = NULL, *res = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", d, prog);
		struct stat st;
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0) {
			res = f;
			break;
		}
		free(f);
	}
	free(copy);
	return res;
}

static const char *human(uint64_t n, char *b, size_t bl)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(b, bl, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return b;
}

/* Sends INFO and waits for the reply; 0 or -1 with e set. */
static int ask_info(struct session *s, const char *root, struct kv_list *kv, uint64_t *t_send, uint64_t *t_recv,
		    struct ferr *e)
{
	struct buf b;
	buf_init(&b, FRAME_MAX);
	buf_put_cstr(&b, root);
	*t_send = now_wall_ns();
	int r = conn_send(&s->c, MSG_INFO, b.data, b.len);
	buf_release(&b);
	if (r < 0) {
		session_lost(s, false, e);
		return -1;
	}
	uint16_t type;
	struct rd body;
	r = conn_read(&s->c, &type, &body);
	*t_recv = now_wall_ns();
	if (r <= 0) {
		err_from_read(s, r, false, e);
		return -1;
	}
	if (type != MSG_INFO_REPLY || kv_decode(&body, kv) < 0) {
		ferr_set(e, EXIT_PROTO, NULL, "bad info reply from the agent on '%s'", s->label);
		return -1;
	}
	return 0;
}

static void print_report(const struct report *r, bool json)
{
	if (!json) {
		for (int i = 0; i < r->n; i++) {
			const struct check *c = &r->c[i];
			printf("%-5s %-17s %s\n", c->state, c->name, vis(c->detail));
			if (c->hint && strcmp(c->state, "ok") != 0)
				printf("      hint: %s\n", vis(c->hint));
		}
		return;
	}
	printf("{\"ok\":%s,\"checks\":[", r->failed ? "false" : "true");
	for (int i = 0; i < r->n; i++) {
		const struct check *c = &r->c[i];
		char *n = json_quote(c->name), *d = json_quote(c->detail);
		char *h = c->hint ? json_quote(c->hint) : xstrdup("null");
		printf("%s{\"name\":%s,\"state\":\"%s\",\"detail\":%s,\"hint\":%s}", i ? "," : "", n, c->state, d, h);
		free(n);
		free(d);
		free(h);
	}
	printf("]}\n");
}

int cmd_doctor(const struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;
	struct report r = { 0 };
	struct config cfg;
	char *err = NULL;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': cmd_usage("doctor", 0); return 0;
		default: cmd_usage("doctor", 1); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		cmd_usage_die("doctor", "unexpected '%s'", argv[optind]);

	int lr = config_load(&cfg, ctx->dir, &err);
	if (lr < 0) {
		if (lr == -ENOENT)
			add(&r, "project file", "fail", "run `ferry init HOST:PATH` in your project folder",
			    "no ferry.ini here or in a parent folder");
		else
			add(&r, "project file", "fail", lr == -EACCES ? CONFIG_TRUST_HINT : "fix the line named above",
			    "%s", err);
		free(err);
		goto out;
	}
	add(&r, "project file", "ok", NULL, "%s", cfg.file);

	if (cfg.kind == TARGET_SSH) {
		char **w;
		split_words(cfg.ssh_command, &w);
		char *ssh = find_in_path(w[0]);
		if (ssh)
			add(&r, "ssh client", "ok", NULL, "%s", ssh);
		else
			add(&r, "ssh client", "fail", "install the OpenSSH client (apt install openssh-client) or fix ssh_command",
			    "'%s' not found in PATH", w[0]);
		free(ssh);
		free_words(w);
	} else {
		add(&r, "ssh client", "skip", NULL, "not needed: local target");
	}

	struct session s;
	struct ferr e = { 0 };
	struct session_opts so = { .batch = true };
	bool open = session_open(&s, &cfg, &so, 0, NULL, &e) == 0;
	const char *who = cfg.kind == TARGET_SSH ? cfg.host : "local";
	if (!open) {
		if (e.code == EXIT_CONNECT) {
			add(&r, "host reachable", "fail", e.hint, "%s", e.msg);
			add(&r, "authentication", "skip", NULL, "host not reached");
			add(&r, "agent", "skip", NULL, "host not reached");
		} else if (e.code == EXIT_AUTH) {
			add(&r, "host reachable", "ok", NULL, "%s", who);
			add(&r, "authentication", "fail", e.hint, "%s", e.msg);
			add(&r, "agent", "skip", NULL, "not logged in");
		} else {
			add(&r, "host reachable", "ok", NULL, "%s", who);
			add(&r, "authentication", cfg.kind == TARGET_SSH ? "ok" : "skip", NULL,
			    cfg.kind == TARGET_SSH ? "works without a prompt" : "not needed: local target");
			add(&r, "agent", "fail", e.hint, "%s", e.msg);
		}
		ferr_release(&e);
		goto out;
	}
	add(&r, "host reachable", "ok", NULL, "%s (session in %.0f ms)", who, (double)s.connect_ns / 1e6);
	if (cfg.kind == TARGET_SSH)
		add(&r, "authentication", "ok", NULL, "works without a prompt");
	else
		add(&r, "authentication", "skip", NULL, "not needed: local target");
	if (s.installed)
		add(&r, "agent", "ok", NULL, "%s, installed just now at %s", s.peer.build_id, s.agent_where);
	else
		add(&r, "agent", "ok", NULL, "%s (%s %s)", s.peer.build_id, s.peer.os, s.peer.arch);
	if (s.noise)
		add(&r, "shell startup", "warn", "make your shell startup files print nothing when not interactive (ferry skips it, other tools break)",
		    "the server's shell printed %zu bytes before the agent started: '%.60s'", s.noise, s.noise_line);

	struct kv_list kv = { 0 };
	uint64_t t0, t1;
	if (ask_info(&s, cfg.path, &kv, &t0, &t1, &e) < 0) {
		add(&r, "remote path", "fail", e.hint, "%s", e.msg);
		ferr_release(&e);
	} else {
		const char *root = kv_get(&kv, "root") ? kv_get(&kv, "root") : "?";
		const char *ex = kv_get(&kv, "root_exists"), *wr = kv_get(&kv, "root_writable");
		if (ex && strcmp(ex, "1") == 0 && wr && strcmp(wr, "1") == 0)
			add(&r, "remote path", "ok", NULL, "%s exists and is writable", root);
		else if (ex && strcmp(ex, "1") == 0)
			add(&r, "remote path", "fail", "fix the folder's permissions or pick another 'path' in ferry.ini",
			    "%s is not writable", root);
		else if (kv_get(&kv, "root_not_dir"))
			add(&r, "remote path", "fail", "move the file away, or pick another 'path' in ferry.ini",
			    "%s is a file, not a folder", root);
		else if (kv_get(&kv, "root_parent_problem"))
			add(&r, "remote path", "fail", "pick a 'path' in ferry.ini under a folder you can write (your home), or ask the admin",
			    "%s does not exist and cannot be created: %s %s", root, kv_get(&kv, "root_parent"),
			    kv_get(&kv, "root_parent_problem"));
		else
			add(&r, "remote path", "warn", "`ferry push` or `ferry exec` creates it on first use",
			    "%s does not exist yet", root);

		/* Which agent runs there, and from where. */
		const char *kind = kv_get(&kv, "agent_kind"), *ap = kv_get(&kv, "agent_path");
		if (kind && strcmp(kind, "dynamic") == 0 && cfg.kind == TARGET_SSH)
			add(&r, "platform", "warn", "build the static agents (`make agents`) or install a ferry release: they run on any Linux of their architecture",
			    "%s %s runs this ferry's own executable as the agent (%s), which needs a C library like this machine's",
			    s.peer.os, s.peer.arch, ap ? ap : "?");
		else
			add(&r, "platform", "ok", NULL, "%s %s, %s agent%s%s", s.peer.os, s.peer.arch, kind ? kind : "?",
			    ap && ap[0] ? " " : "", ap ? ap : "");

		char b1[32], b2[32];
		uint64_t fr = strtoull(kv_get(&kv, "disk_free") ? kv_get(&kv, "disk_free") : "0", NULL, 10);
		uint64_t tot = strtoull(kv_get(&kv, "disk_total") ? kv_get(&kv, "disk_total") : "0", NULL, 10);
		if (fr < DISK_LOW_BYTES)
			add(&r, "free disk", "fail", "free some space, or point 'path' at a bigger disk",
			    "%s free of %s on %s", human(fr, b1, sizeof(b1)), human(tot, b2, sizeof(b2)),
			    kv_get(&kv, "disk_path") ? kv_get(&kv, "disk_path") : "?");
		else
			add(&r, "free disk", "ok", NULL, "%s free of %s", human(fr, b1, sizeof(b1)), human(tot, b2, sizeof(b2)));

		uint64_t aw = strtoull(kv_get(&kv, "wall_ns") ? kv_get(&kv, "wall_ns") : "0", NULL, 10);
		int64_t skew = (int64_t)(aw - (t0 + (t1 - t0) / 2));
		uint64_t abs_skew = skew < 0 ? (uint64_t)-skew : (uint64_t)skew;
		if (abs_skew > CLOCK_SKEW_MAX_NS)
			add(&r, "clock skew", "fail", "enable time sync (NTP, systemd-timesyncd) on the laptop and the server: sync compares timestamps",
			    "server clock is %+.1f s off this machine's", (double)skew / 1e9);
		else
			add(&r, "clock skew", "ok", NULL, "%+.3f s (±%.3f s)", (double)skew / 1e9, (double)(t1 - t0) / 2e9);

		const char *le = kv_get(&kv, "login_env"), *lee = kv_get(&kv, "login_env_error");
		if (le)
			add(&r, "login environment", "ok", NULL, "%s", le);
		else
			add(&r, "login environment", "warn", "commands still run, with ssh's plain environment; check your shell rc files on the server",
			    "%s", lee ? lee : "unknown");
		kv_release(&kv);
	}
	session_close(&s);
out:
	print_report(&r, json);
	for (int i = 0; i < r.n; i++) {
		free(r.c[i].detail);
		free(r.c[i].hint);
	}
	config_release(&cfg);
	return r.failed ? EXIT_FAIL : 0;
}
