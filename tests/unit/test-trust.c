/*
 * test-trust.c - a ferry.ini that names a program runs nothing until the
 * user trusts that very file; the user's file and the environment win.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsx.h"
#include "trust.h"
#include "t.h"
#include "util.h"

static char base[64];

static void put(const char *rel, const char *text, mode_t mode)
{
	char *p = xasprintf("%s/%s", base, rel);
	FILE *f = fopen(p, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	CHECK(chmod(p, mode) == 0);
	free(p);
}

/* config_load of the project; the code, *err into msg (or ""). */
static int load(struct config *c, char *msg, size_t n)
{
	char *dir = xasprintf("%s/proj", base), *err = NULL;
	int r = config_load(c, dir, &err);
	snprintf(msg, n, "%s", err ? err : "");
	free(err);
	free(dir);
	return r;
}

#define INI "[target]\ntype = ssh\nhost = gpu\npath = ~/p\nssh_command = %s\n"

void test_trust(void)
{
	char msg[1024], *err = NULL, *s;
	struct config c;
	const char *saved_env = getenv("FERRY_SSH_COMMAND");
	char *saved = saved_env ? strdup(saved_env) : NULL;

	snprintf(base, sizeof(base), "/tmp/ferry-trust-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
	s = xasprintf("%s/proj", base);
	mkdir(s, 0755);
	free(s);
	s = xasprintf("%s/cfg", base);
	mkdir(s, 0700);
	setenv("XDG_CONFIG_HOME", s, 1);
	free(s);
	s = xasprintf("%s/cfg/ferry", base);
	mkdir(s, 0700);
	free(s);
	s = xasprintf("%s/state", base);
	setenv("XDG_STATE_HOME", s, 1);
	free(s);
	unsetenv("FERRY_SSH_COMMAND");

	t_case = "untrusted program key refused";
	s = xasprintf(INI, "/tmp/evil");
	put("proj/ferry.ini", s, 0644);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	CHECK(strstr(msg, "ferry.ini:5 sets target.ssh_command, which runs a program on this computer, and you have not trusted this file") != NULL);
	CHECK(c.program_in_file && !c.trusted);
	CHECK_STR(c.ssh_command, "/tmp/evil");	/* for `ferry config` */

	t_case = "trusted";
	CHECK(trust_add(&c, &err) == 0);
	config_release(&c);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	CHECK(c.trusted && c.src[KEY_SSH_COMMAND] == SRC_PROJECT);
	s = config_origin(&c, KEY_SSH_COMMAND);
	CHECK_STR(s, "ferry.ini:5 (trusted)");
	free(s);
	config_release(&c);
	s = trust_path();
	struct stat st;
	CHECK(stat(s, &st) == 0 && (st.st_mode & 0777) == 0600);
	free(s);

	t_case = "a changed file is untrusted again";
	s = xasprintf(INI "# a comment\n", "/tmp/evil");
	put("proj/ferry.ini", s, 0644);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	CHECK(strstr(msg, "ferry.ini:5 sets target.ssh_command, which runs a program on this computer, and the file changed since you trusted it") != NULL);
	config_release(&c);

	t_case = "a record whose value differs trusts nothing (a crafted collision)";
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	s = xasprintf("%s %s\n\ttarget.ssh_command = /tmp/other\n", c.file_hash, c.root);
	put("state/ferry/trusted", s, 0600);
	free(s);
	config_release(&c);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	config_release(&c);

	t_case = "a trust record others may write is not read";
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	s = xasprintf("%s %s\n\ttarget.ssh_command = /tmp/evil\n", c.file_hash, c.root);
	put("state/ferry/trusted", s, 0622);
	free(s);
	config_release(&c);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	CHECK(strstr(msg, "your trust record is writable by group or others and was not read") != NULL);
	config_release(&c);
	s = xasprintf("%s/state/ferry/trusted", base);
	chmod(s, 0600);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	config_release(&c);

	t_case = "revoke";
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	bool had = false;
	CHECK(trust_revoke(c.root, &had, &err) == 0 && had);
	CHECK(trust_revoke(c.root, &had, &err) == 0 && !had);
	config_release(&c);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);
	config_release(&c);

	t_case = "order: [target] < [host] < ferry.ini < [project] < environment";
	s = xasprintf("[target]\nssh_command = all\nagent_dir = /a\n[host \"gpu\"]\nssh_command = host\n"
		      "[host \"cpu\"]\nagent_dir = /c\n");
	put("cfg/ferry/config.ini", s, 0600);
	free(s);
	s = xasprintf("[target]\ntype = ssh\nhost = gpu\npath = ~/p\n");
	put("proj/ferry.ini", s, 0644);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	CHECK_STR(c.ssh_command, "host");
	CHECK_STR(c.agent_dir, "/a");
	CHECK(c.src[KEY_SSH_COMMAND] == SRC_USER && c.user_line[KEY_SSH_COMMAND] == 5);
	s = config_origin(&c, KEY_AGENT_DIR);
	char *want = xasprintf("%s/cfg/ferry/config.ini:3", base);
	CHECK_STR(s, want);
	free(want);
	free(s);
	config_release(&c);
	s = xasprintf(INI, "fromfile");
	put("proj/ferry.ini", s, 0644);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == -EACCES);	/* ferry.ini beats [host]: needs trust */
	CHECK(trust_add(&c, &err) == 0);
	config_release(&c);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	CHECK_STR(c.ssh_command, "fromfile");
	config_release(&c);
	s = xasprintf("[project \"%s/proj\"]\nssh_command = mine\n", base);
	put("cfg/ferry/config.ini", s, 0600);
	free(s);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	CHECK_STR(c.ssh_command, "mine");
	config_release(&c);
	char *root = xasprintf("%s/proj", base);
	CHECK(trust_revoke(root, &had, &err) == 0 && had);
	free(root);
	CHECK(load(&c, msg, sizeof(msg)) == 0);	/* [project] wins: ferry.ini's is not used */
	CHECK_STR(c.ssh_command, "mine");
	config_release(&c);
	setenv("FERRY_SSH_COMMAND", "ssh -F env", 1);
	CHECK(load(&c, msg, sizeof(msg)) == 0);	/* not the file's: nothing to trust */
	CHECK_STR(c.ssh_command, "ssh -F env");
	CHECK(c.src[KEY_SSH_COMMAND] == SRC_ENV);
	s = config_origin(&c, KEY_SSH_COMMAND);
	CHECK_STR(s, "FERRY_SSH_COMMAND");
	free(s);
	config_release(&c);
	unsetenv("FERRY_SSH_COMMAND");

	t_case = "the user's file: refused when others may write it";
	put("proj/ferry.ini", "[target]\ntype = ssh\nhost = gpu\npath = ~/p\n", 0644);
	put("cfg/ferry/config.ini", "[target]\nssh_command = x\n", 0664);
	CHECK(load(&c, msg, sizeof(msg)) == -1);
	CHECK(strstr(msg, "config.ini' is writable by group or others, so ferry does not use it") != NULL);
	config_release(&c);
	put("cfg/ferry/config.ini", "[target]\nssh_command = x\n", 0644);
	CHECK(load(&c, msg, sizeof(msg)) == 0);
	CHECK_STR(c.ssh_command, "x");
	config_release(&c);

	t_case = "read_owned";
	s = xasprintf("%s/link", base);
	char *target = xasprintf("%s/cfg/ferry/config.ini", base);
	CHECK(symlink(target, s) == 0);
	char *text = NULL;
	size_t len;
	const char *why = NULL;
	CHECK(read_owned(s, O_NOFOLLOW, 100, &text, &len, &why) == -EPERM);
	CHECK_STR(why, "is a symbolic link");
	CHECK(read_owned(s, 0, 100, &text, &len, &why) == 0 && len == 25);
	free(text);
	CHECK(read_owned(s, 0, 10, &text, &len, &why) == -EFBIG);
	free(s);
	free(target);

	s = xasprintf("rm -rf '%s'", base);
	CHECK(system(s) == 0);
	free(s);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("XDG_STATE_HOME");
	if (saved) {
		setenv("FERRY_SSH_COMMAND", saved, 1);
		free(saved);
	}
}
