/*
 * test-path.c - path validation and the private-directory rule.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsx.h"
#include "limits.h"
#include "t.h"
#include "util.h"

static void test_rel(void)
{
	static const struct {
		const char *p;
		int ok;
	} cases[] = {
		{ "a", 1 }, { "a/b/c", 1 }, { "dir/", 0 }, { "a/b/", 0 }, { ".hidden", 1 }, { "..a", 1 }, { "a..", 1 },
		{ "a b/-x", 1 }, { "\xff\xfe", 1 }, { "...", 1 },
		{ "", 0 }, { "/", 0 }, { "/etc/passwd", 0 }, { "..", 0 }, { "../x", 0 }, { "a/../b", 0 },
		{ "a/..", 0 }, { ".", 0 }, { "./a", 0 }, { "a/./b", 0 }, { "a//b", 0 }, { "a/b//", 0 },
		{ "//a", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].p;
		CHECK((path_check_rel(cases[i].p, strlen(cases[i].p)) == 0) == (cases[i].ok != 0));
	}
	t_case = "embedded NUL";
	CHECK(path_check_rel("a\0b", 3) == -EINVAL);

	t_case = "component and path length";
	char name[PATH_NAME_MAX + 2];
	memset(name, 'n', sizeof(name));
	name[PATH_NAME_MAX] = '\0';
	CHECK(path_check_rel(name, PATH_NAME_MAX) == 0);
	name[PATH_NAME_MAX] = 'n';
	name[PATH_NAME_MAX + 1] = '\0';
	CHECK(path_check_rel(name, PATH_NAME_MAX + 1) == -EINVAL);
	char *longp = xmalloc(PATH_REL_MAX + 2);
	for (size_t i = 0; i < PATH_REL_MAX + 1; i++)
		longp[i] = (i % 100 == 99) ? '/' : 'x';
	longp[PATH_REL_MAX] = '\0';
	CHECK(path_check_rel(longp, PATH_REL_MAX) == 0);
	longp[PATH_REL_MAX] = 'x';
	longp[PATH_REL_MAX + 1] = '\0';
	CHECK(path_check_rel(longp, PATH_REL_MAX + 1) == -EINVAL);
	free(longp);
}

static void test_absolute(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/a/b", "/a/b" }, { "/a/./b/", "/a/b" }, { "/a/../b", "/b" }, { "/../..", "/" },
		{ "//x//y", "/x/y" }, { "/", "/" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].in;
		char *a = path_absolute(cases[i].in);
		CHECK_STR(a, cases[i].out);
		free(a);
	}
}

static void test_private_dir(void)
{
	char tmpl[] = "/tmp/ferry-unit.XXXXXX";
	char *base = mkdtemp(tmpl);
	const char *why;
	t_case = "private dir";
	CHECK(base != NULL);
	char *d = xasprintf("%s/a/b", base);
	CHECK(dir_private(d, &why) == 0);
	struct stat st;
	CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700);
	chmod(d, 0755);
	CHECK(dir_private(d, &why) == 0);	/* ours: tightened */
	CHECK(stat(d, &st) == 0 && (st.st_mode & 0777) == 0700);

	t_case = "symlink refused";
	char *l = xasprintf("%s/link", base);
	CHECK(symlink(d, l) == 0);
	CHECK(dir_private(l, &why) == -EPERM && why && strstr(why, "symbolic link"));

	t_case = "file refused";
	char *f = xasprintf("%s/file", base);
	FILE *fp = fopen(f, "w");
	if (fp)
		fclose(fp);
	CHECK(dir_private(f, &why) < 0);

	t_case = "atomic write";
	char *w = xasprintf("%s/w", base);
	CHECK(write_file_atomic(w, "x", 1, 0600, 1) == 0);
	CHECK(write_file_atomic(w, "y", 1, 0600, 1) == -EEXIST);
	CHECK(write_file_atomic(w, "z", 1, 0600, 0) == 0);
	char *data;
	size_t len;
	CHECK(read_file(w, 10, &data, &len) == 0 && len == 1 && data[0] == 'z');
	free(data);
	CHECK(read_file(w, 0, &data, &len) == -EFBIG);
	CHECK(read_file(base, 10, &data, &len) == -EINVAL);

	t_case = "atomic write in pieces: commit, abort, link";
	struct atomic_out o;
	CHECK(atomic_out_open(&o, w, 0600) == 0);
	atomic_out_write(&o, "ab", 2);
	atomic_out_write(&o, "cd", 2);
	CHECK(read_file(w, 10, &data, &len) == 0 && len == 1 && data[0] == 'z');	/* not yet */
	free(data);
	CHECK(atomic_out_commit(&o, false) == 0);
	CHECK(read_file(w, 10, &data, &len) == 0 && len == 4 && memcmp(data, "abcd", 4) == 0);
	free(data);
	char *tmp = xasprintf("%s.ferry-tmp.%ld", w, (long)getpid());
	CHECK(access(tmp, F_OK) < 0);
	CHECK(atomic_out_open(&o, w, 0600) == 0);
	atomic_out_write(&o, "lost", 4);
	CHECK(access(tmp, F_OK) == 0);
	atomic_out_abort(&o);
	CHECK(access(tmp, F_OK) < 0);
	CHECK(read_file(w, 10, &data, &len) == 0 && len == 4 && memcmp(data, "abcd", 4) == 0);
	free(data);
	CHECK(atomic_out_open(&o, w, 0600) == 0);
	atomic_out_write(&o, "new", 3);
	CHECK(atomic_out_link(&o) == -EEXIST);	/* never over an existing file */
	CHECK(access(tmp, F_OK) < 0);
	CHECK(read_file(w, 10, &data, &len) == 0 && len == 4 && memcmp(data, "abcd", 4) == 0);
	free(data);
	free(tmp);

	t_case = "read_file: sized by the file, grown past what stat says, capped";
	char *big = xmalloc(20000);
	for (size_t i = 0; i < 20000; i++)
		big[i] = (char)('a' + i % 26);
	CHECK(write_file_atomic(w, big, 20000, 0600, 0) == 0);
	CHECK(read_file(w, 20000, &data, &len) == 0 && len == 20000 && memcmp(data, big, 20000) == 0 &&
	      data[20000] == '\0');
	free(data);
	CHECK(read_file(w, 19999, &data, &len) == -EFBIG);
	CHECK(read_file(w, (size_t)2 << 30, &data, &len) == 0 && len == 20000);
	free(data);
	free(big);
	/* /proc says 0 bytes; smaps of a running process holds more than
	 * the first 4096 the buffer starts with. */
	CHECK(read_file("/proc/self/smaps", 1 << 24, &data, &len) == 0 && len > 4096 && strlen(data) == len);
	free(data);

	char *cmd = xasprintf("rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	free(cmd);
	free(d);
	free(l);
	free(f);
	free(w);
}

static void test_beneath(void)
{
	char tmpl[] = "/tmp/ferry-beneath.XXXXXX";
	char *base = mkdtemp(tmpl);
	char *p;
	int fd;
	t_case = "open beneath";
	CHECK(base != NULL);
	p = xasprintf("%s/root/sub", base);
	CHECK(mkdir_p(p, 0755) == 0);
	free(p);
	p = xasprintf("%s/outside", base);
	CHECK(mkdir_p(p, 0755) == 0);
	free(p);
	p = xasprintf("%s/root", base);
	int root = open(p, O_RDONLY | O_DIRECTORY);
	free(p);
	CHECK(root >= 0);
	CHECK(symlinkat("../outside", root, "escape") == 0);
	CHECK(symlinkat("sub", root, "inside-link") == 0);
	CHECK(symlinkat("/etc/passwd", root, "abs") == 0);

	fd = open_beneath(root, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	t_case = "symlink to outside is refused";
	CHECK(open_beneath(root, "escape/x", O_WRONLY | O_CREAT, 0600) < 0);
	p = xasprintf("%s/outside/x", base);
	CHECK(access(p, F_OK) != 0);
	free(p);
	t_case = "even a symlink that stays inside";
	CHECK(open_beneath(root, "inside-link/new", O_WRONLY | O_CREAT, 0600) < 0);
	t_case = "final component symlink";
	CHECK(open_beneath(root, "abs", O_RDONLY, 0) < 0);
	t_case = "dot-dot and absolute";
	CHECK(open_beneath(root, "../outside/y", O_WRONLY | O_CREAT, 0600) == -EINVAL);
	CHECK(open_beneath(root, "/etc/passwd", O_RDONLY, 0) == -EINVAL);
	t_case = "walk fallback agrees";
	CHECK(open_walk_for_tests(root, "escape/x", O_WRONLY | O_CREAT, 0600) < 0);
	CHECK(open_walk_for_tests(root, "abs", O_RDONLY, 0) < 0);
	fd = open_walk_for_tests(root, "sub/new", O_RDONLY, 0);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	close(root);
	char *cmd = xasprintf("rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
	free(cmd);
}

/* One answer for the server's state folder, whatever the environment
 * lacks. */
static void test_state_home(void)
{
	t_case = "state_home and user_home";
	char *home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	char *xdg = getenv("XDG_STATE_HOME") ? xstrdup(getenv("XDG_STATE_HOME")) : NULL;
	struct passwd *pw = getpwuid(getuid());
	char *pwhome = xstrdup(pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/");
	char *want_pw = strcmp(pwhome, "/") == 0 ? xasprintf("/tmp/ferry-%u", (unsigned)getuid())
						  : xasprintf("%s/.local/state/ferry", pwhome);
	static const struct { const char *home, *xdg; int want; } cases[] = {
		{ "/h", "/x", 0 },	/* "/x/ferry" */
		{ "/h", "rel", 1 },	/* "/h/.local/state/ferry" */
		{ "/h", "", 1 },
		{ "/h", NULL, 1 },
		{ NULL, NULL, 2 },	/* the password database's */
		{ "", NULL, 2 },
		{ "relative", NULL, 2 },
		{ NULL, "/x", 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		if (cases[i].home)
			setenv("HOME", cases[i].home, 1);
		else
			unsetenv("HOME");
		if (cases[i].xdg)
			setenv("XDG_STATE_HOME", cases[i].xdg, 1);
		else
			unsetenv("XDG_STATE_HOME");
		char *d = state_home(), *h = user_home();
		CHECK_STR(d, cases[i].want == 0 ? "/x/ferry" : cases[i].want == 1 ? "/h/.local/state/ferry" : want_pw);
		CHECK_STR(h, cases[i].want == 2 || !cases[i].home ? pwhome : "/h");
		free(d);
		free(h);
	}
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	if (xdg)
		setenv("XDG_STATE_HOME", xdg, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(home);
	free(xdg);
	free(pwhome);
	free(want_pw);
}

void test_fsx(void)
{
	test_state_home();
	test_beneath();
	test_rel();
	test_absolute();
	test_private_dir();
}
