/*
 * test-config.c - the project-file parser, table-driven.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "t.h"

static void test_errors(void)
{
	static const struct {
		const char *text, *err;	/* err NULL = must parse */
	} cases[] = {
		{ "[target]\ntype = ssh\nhost = box\npath = ~/p\n", NULL },
		{ "[target]\ntype=local\npath=/x\n", NULL },
		{ "; comment\n# comment\n[target]\r\ntype = local\r\npath = /x ; inline\r\n", NULL },
		{ "[target]\ntype = local\npath = /x\n[sync]\npush =\n", NULL },
		{ "[target]\ntype = ssh\nhost = b\npath = p\nhots = x\n", "t.ini:5: unknown key 'hots' (did you mean 'host'?)" },
		{ "[target]\npaht = x\n", "t.ini:2: unknown key 'paht' (did you mean 'path'?)" },
		{ "[target]\nzzzzzz = x\n", "t.ini:2: unknown key 'zzzzzz' in [target]" },
		{ "[sink]\n", "t.ini:1: unknown section '[sink]' (did you mean '[sync]'?)" },
		{ "[qqqqqqqq]\n", "t.ini:1: unknown section '[qqqqqqqq]' (known: [target], [sync])" },
		{ "[target]\ntype = ssh\ntype = ssh\n", "t.ini:3: duplicate key 'type' (first set on line 2)" },
		{ "[target]\nhost =\n", "t.ini:2: 'host' has no value" },
		{ "[target]\ntype = local\n", "t.ini: [target] has no 'path'" },
		{ "", "t.ini: [target] has no 'type' (use 'ssh' or 'local'; `ferry init` writes one)" },
		{ "[target]\ntype = local\nhost = h\npath = /x\n", "t.ini:3: 'host' is only for type 'ssh'" },
		{ "[target]\ntype = ssh\nhost = a b\n", "t.ini:3: 'a b' is not a usable ssh host (no leading '-', spaces or quotes)" },
		{ "[target]\n\x01\n", "t.ini:2: binary data in the file (byte 0x01); is this really a ferry.ini?" },
		{ "[target]\ntype = local\npath = /x\n[sync]\npull = /abs\n", "t.ini:5: '/abs' in 'sync.pull' must be a folder inside the project (no '..', not absolute)" },
		{ "[target]\ntype = local\npath = /x\n[sync]\npush = a/../../b\n", "t.ini:5: 'a/../../b' in 'sync.push' must be a folder inside the project (no '..', not absolute)" },
		{ "[target]\nthis is not ini\n", "t.ini:2: cannot parse this line (expected 'key = value' or '[section]')" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c = { 0 };
		char *err = NULL;
		t_case = cases[i].text;
		int r = config_parse(&c, "t.ini", cases[i].text, strlen(cases[i].text), &err);
		if (cases[i].err == NULL) {
			CHECK(r == 0);
			if (err)
				CHECK_STR(err, "(no error)");
		} else {
			CHECK(r < 0);
			CHECK_STR(err, cases[i].err);
		}
		free(err);
		config_release(&c);
	}
}

static void test_values(void)
{
	const char *text = "[target]\ntype = ssh\nhost = user@gpu\npath = ~/p\nssh_command = ssh -F 'my cfg'\n"
			   "[sync]\npush = src, scripts/\npush = conf\nignore = *.ckpt\n";
	struct config c = { 0 };
	char *err = NULL;
	t_case = "values";
	CHECK(config_parse(&c, "t.ini", text, strlen(text), &err) == 0);
	CHECK(c.kind == TARGET_SSH);
	CHECK_STR(c.host, "user@gpu");
	CHECK_STR(c.path, "~/p");
	CHECK_STR(c.ssh_command, "ssh -F 'my cfg'");
	CHECK(c.push.n == 3);
	if (c.push.n == 3) {
		CHECK_STR(c.push.v[1], "scripts");
		CHECK_STR(c.push.v[2], "conf");
	}
	CHECK(c.ignore.n == 1);
	CHECK(c.line[KEY_HOST] == 3);
	CHECK(c.line[KEY_PUSH] == 7);
	free(err);
	config_release(&c);

	t_case = "line too long";
	char *big = malloc(3000);
	memcpy(big, "[target]\nhost = ", 16);
	memset(big + 16, 'a', 2000);
	memcpy(big + 2016, "\n", 2);
	CHECK(config_parse(&c, "t.ini", big, strlen(big), &err) < 0);
	CHECK_STR(err, "t.ini:2: line is too long (at most 1024 bytes)");
	free(err);
	config_release(&c);
	free(big);

	t_case = "NUL byte";
	CHECK(config_parse(&c, "t.ini", "[target]\n\0x\n", 12, &err) < 0);
	CHECK(err && strstr(err, "t.ini:2: binary data"));
	free(err);
	config_release(&c);

	t_case = "render parses back";
	char *r = config_render(TARGET_SSH, "h", "~/p");
	CHECK(config_parse(&c, "t.ini", r, strlen(r), &err) == 0);
	CHECK_STR(c.host, "h");
	config_release(&c);
	free(r);
	free(err);
	err = NULL;
	r = config_render(TARGET_LOCAL, NULL, "/tmp/x");
	CHECK(config_parse(&c, "t.ini", r, strlen(r), &err) == 0);
	CHECK(c.kind == TARGET_LOCAL);
	config_release(&c);
	free(r);
	free(err);
}

/* The user's file: its own sections, only the keys it may hold, and only
 * the sections that apply to this host and folder. */
static void test_user(void)
{
	static const struct {
		const char *text, *err;	/* err NULL = must parse */
		const char *all, *host, *proj;	/* ssh_command per scope */
	} cases[] = {
		{ "[target]\nssh_command = ssh -v\n", NULL, "ssh -v", NULL, NULL },
		{ "[host \"gpu\"]\nssh_command = ssh -F g\n[host \"cpu\"]\nssh_command = ssh -F c\n", NULL, NULL, "ssh -F g", NULL },
		{ "[project \"/w/p\"]\nssh_command = p1\n[project \"/w/other\"]\nssh_command = p2\n", NULL, NULL, NULL, "p1" },
		{ "[project \"/w/q/../p/\"]\nagent_dir = /s\n", NULL, NULL, NULL, NULL },
		{ "", NULL, NULL, NULL, NULL },
		{ "ssh_command = x\n", "u.ini:1: key 'ssh_command' outside a section (put it under [target], [host \"NAME\"] or [project \"/PATH\"])", NULL, NULL, NULL },
		{ "[target]\nhost = h\n", "u.ini:2: 'host' belongs in a project's ferry.ini (this file holds ssh_command, agent_dir)", NULL, NULL, NULL },
		{ "[target]\nssh_comand = x\n", "u.ini:2: unknown key 'ssh_comand' (did you mean 'ssh_command'?)", NULL, NULL, NULL },
		{ "[sync]\n", "u.ini:1: unknown section '[sync]' (known here: [target], [host \"NAME\"], [project \"/PATH\"])", NULL, NULL, NULL },
		{ "[host gpu]\n", "u.ini:1: unknown section '[host gpu]' (known here: [target], [host \"NAME\"], [project \"/PATH\"])", NULL, NULL, NULL },
		{ "[host \"-oProxy\"]\n", "u.ini:1: '-oProxy' is not a usable ssh host (no leading '-', spaces or quotes)", NULL, NULL, NULL },
		{ "[project \"rel\"]\n", "u.ini:1: 'rel' is not an absolute path (a project folder: /PATH or ~/PATH)", NULL, NULL, NULL },
		{ "[target]\nssh_command = a\nssh_command = b\n", "u.ini:3: duplicate key 'ssh_command' (first set on line 2)", NULL, NULL, NULL },
		{ "[host \"gpu\"]\nssh_command = a\n[host \"gpu\"]\nssh_command = b\n", "u.ini:4: duplicate key 'ssh_command' (first set on line 2)", NULL, NULL, NULL },
		/* A section that does not apply is checked all the same. */
		{ "[host \"cpu\"]\nssh_command = ssh \"unbalanced\n", "u.ini:2: cannot split ssh_command into words (unbalanced quote?)", NULL, NULL, NULL },
		{ "[target]\nssh_command =\n", "u.ini:2: 'ssh_command' has no value", NULL, NULL, NULL },
		{ "[target]\n\x01\n", "u.ini:2: binary data in the file (byte 0x01); is this really a ferry.ini?", NULL, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct user_vals u = { 0 };
		char *err = NULL;
		t_case = cases[i].text;
		int r = config_parse_user(&u, "u.ini", cases[i].text, strlen(cases[i].text), "gpu", "/w/p", &err);
		if (cases[i].err == NULL) {
			CHECK(r == 0);
			if (err)
				CHECK_STR(err, "(no error)");
			const char *want[SCOPE__COUNT] = { cases[i].all, cases[i].host, cases[i].proj };
			for (int sc = 0; sc < SCOPE__COUNT; sc++) {
				if (want[sc])
					CHECK_STR(u.val[sc][KEY_SSH_COMMAND], want[sc]);
				else
					CHECK(u.val[sc][KEY_SSH_COMMAND] == NULL);
			}
		} else {
			CHECK(r < 0);
			CHECK_STR(err, cases[i].err);
		}
		free(err);
		user_vals_release(&u);
	}

	t_case = "project path normalised";
	struct user_vals u = { 0 };
	char *err = NULL;
	const char *t = "[project \"/w/q/../p/\"]\nagent_dir = /s\n";
	CHECK(config_parse_user(&u, "u.ini", t, strlen(t), NULL, "/w/p", &err) == 0);
	CHECK_STR(u.val[SCOPE_PROJECT][KEY_AGENT_DIR], "/s");
	CHECK(u.line[SCOPE_PROJECT][KEY_AGENT_DIR] == 2);
	user_vals_release(&u);
	free(err);

	t_case = "key flags";
	CHECK(config_key_program(KEY_SSH_COMMAND));
	CHECK(!config_key_program(KEY_AGENT_DIR));
	CHECK(!config_key_program(KEY_HOST));
	CHECK(config_key_user(KEY_AGENT_DIR));
	CHECK(!config_key_user(KEY_PATH));

	t_case = "ferry.ini keeps its program values";
	struct config c = { 0 };
	t = "[target]\ntype = ssh\nhost = h\npath = p\nssh_command = ssh -F x\n";
	CHECK(config_parse(&c, "t.ini", t, strlen(t), &err) == 0);
	CHECK_STR(c.file_program[KEY_SSH_COMMAND], "ssh -F x");
	CHECK(c.file_program[KEY_AGENT_DIR] == NULL);
	CHECK(c.src[KEY_SSH_COMMAND] == SRC_PROJECT && c.src[KEY_AGENT_DIR] == SRC_DEFAULT);
	config_release(&c);
	free(err);
}

void test_config(void)
{
	test_errors();
	test_values();
	test_user();
}
