/*
 * test-names.c - passwd lines and `getent ahosts` output as a hostile
 * file or server would write them; names_user and names_host through the
 * real files and getent, and through a fake getent that misbehaves.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "limits.h"
#include "names.h"
#include "t.h"
#include "util.h"


static int parse(const char *p, size_t n, uint32_t uid, struct user_ent *u)
{
	struct rd l;
	/* On the heap, exactly n bytes: ASan sees a read past the line. */
	char *copy = xmalloc(n ? n : 1);
	memcpy(copy, p, n);
	rd_init(&l, copy, n);
	memset(u, 'z', sizeof(*u));
	int r = passwd_line_parse(l, uid, u);
	free(copy);
	return r;
}

#define LINE(s) s, sizeof(s) - 1

static void put_s(struct buf *b, const char *s)
{
	(void)buf_put(b, s, strlen(s));
}

static void test_passwd(void)
{
	struct user_ent u;

	t_case = "good lines";
	CHECK(parse(LINE("root:x:0:0:root:/root:/bin/bash"), 0, &u) == 0);
	CHECK_STR(u.name, "root");
	CHECK_STR(u.home, "/root");
	CHECK_STR(u.shell, "/bin/bash");
	CHECK(parse(LINE("alice:*:1000:1000:Alice A.,,,:/home/alice:"), 1000, &u) == 0);
	CHECK_STR(u.name, "alice");
	CHECK_STR(u.home, "/home/alice");
	CHECK_STR(u.shell, "");
	CHECK(parse(LINE("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"), 65534, &u) == 0);
	CHECK_STR(u.shell, "/usr/sbin/nologin");
	CHECK(parse(LINE("big:x:4294967295:0:::/bin/sh"), UINT32_MAX, &u) == 0);
	CHECK_STR(u.home, "");
	CHECK(parse(LINE("z:x:007:0::/z:/bin/sh"), 7, &u) == 0);
	/* The shell is the rest of the line, as glibc reads it. */
	CHECK(parse(LINE("a:x:1:1:g:/h:/bin/sh:extra"), 1, &u) == 0);
	CHECK_STR(u.shell, "/bin/sh:extra");

	t_case = "wrong uid";
	CHECK(parse(LINE("root:x:0:0:root:/root:/bin/bash"), 1, &u) == 1);
	CHECK(parse(LINE("alice:x:1000:1000::/home/alice:/bin/sh"), 100, &u) == 1);
	CHECK(parse(LINE("alice:x:1000:1000::/home/alice:/bin/sh"), 10000, &u) == 1);
	CHECK(parse(LINE("big:x:4294967295:0:::/bin/sh"), 0, &u) == 1);

	t_case = "malformed";
	static const char *const bad[] = {
		"", ":", "root", "root:x", "root:x:0", "root:x:0:0", "root:x:0:0:root", "root:x:0:0:root:/root",
		":x:0:0:root:/root:/bin/sh",		/* empty name */
		"root:x::0:root:/root:/bin/sh",		/* empty uid */
		"root:x:abc:0:root:/root:/bin/sh", "root:x:-1:0:root:/root:/bin/sh", "root:x:+0:0::/:/bin/sh",
		"root:x:0x0:0:root:/root:/bin/sh", "root:x:12a:0:root:/root:/bin/sh", "root:x:1.5:0::/:/bin/sh",
		"root:x:0 :0:root:/root:/bin/sh",
		"root:x:4294967296:0:root:/root:/bin/sh",	/* 2^32 */
		"root:x:18446744073709551615:0::/:/bin/sh",	/* 2^64 - 1 */
		"root:x:18446744073709551616:0::/:/bin/sh",	/* 2^64: overflows the parser */
		"root:x:99999999999999999999999:0::/:/sh",	/* 23 digits */
		"root:x:000000000000000000000000000000:0::/:/sh",	/* longer than the field */
		"+::::::", "-bob::::::", "+@netgroup",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		t_case = bad[i];
		CHECK(parse(bad[i], strlen(bad[i]), 0, &u) == -1);
	}

	t_case = "NUL bytes";
	CHECK(parse(LINE("ro\0ot:x:0:0:root:/root:/bin/bash"), 0, &u) == -1);
	CHECK(parse(LINE("root:x:0\0:0:root:/root:/bin/bash"), 0, &u) == -1);
	CHECK(parse(LINE("root:x:0:0:ro\0ot:/root:/bin/bash"), 0, &u) == -1);
	CHECK(parse(LINE("root:x:0:0:root:/ro\0ot:/bin/bash"), 0, &u) == -1);
	CHECK(parse(LINE("root:x:0:0:root:/root:/bin/ba\0sh"), 0, &u) == -1);
	CHECK(parse(LINE("root:x:0:0:root:/root:/bin/bash\0"), 0, &u) == -1);
	CHECK(parse(LINE("\0"), 0, &u) == -1);

	t_case = "overlong fields";
	struct buf b;
	buf_init(&b, 4 * NAMES_PATH_MAX);
	static const struct {
		int field;		/* 0 name, 1 gecos, 2 home, 3 shell */
		size_t len;
		int want;
	} longs[] = {
		{ 0, NAMES_FIELD_MAX - 1, 0 }, { 0, NAMES_FIELD_MAX, -1 }, { 0, 3 * NAMES_PATH_MAX, -1 },
		{ 1, NAMES_PATH_MAX - 1, 0 }, { 1, NAMES_PATH_MAX, -1 },
		{ 2, NAMES_PATH_MAX - 1, 0 }, { 2, NAMES_PATH_MAX, -1 },
		{ 3, NAMES_PATH_MAX - 1, 0 }, { 3, NAMES_PATH_MAX, -1 }, { 3, 3 * NAMES_PATH_MAX, -1 },
	};
	for (size_t i = 0; i < ARRAY_LEN(longs); i++) {
		char *f = xmalloc(longs[i].len + 1);
		memset(f, 'a', longs[i].len);
		f[longs[i].len] = '\0';
		buf_reset(&b);
		put_s(&b, longs[i].field == 0 ? f : "u");
		put_s(&b, ":x:5:5:");
		put_s(&b, longs[i].field == 1 ? f : "");
		put_s(&b, ":");
		put_s(&b, longs[i].field == 2 ? f : "/h");
		put_s(&b, ":");
		put_s(&b, longs[i].field == 3 ? f : "/bin/sh");
		t_case = "overlong fields";
		CHECK(b.len > longs[i].len);
		CHECK(parse((const char *)b.data, b.len, 5, &u) == longs[i].want);
		if (longs[i].want == 0) {
			const char *got = longs[i].field == 0 ? u.name : longs[i].field == 2 ? u.home : u.shell;
			CHECK(longs[i].field == 1 || strnlen(got, NAMES_PATH_MAX) == longs[i].len);
		}
		free(f);
	}
	buf_release(&b);

	/* The gid is no concern of ours: we never use it. */
	t_case = "gid not checked";
	CHECK(parse(LINE("u:x:5:abc::/h:/bin/sh"), 5, &u) == 0);
}

static int ahosts(const char *text, struct names_addr *out, int max)
{
	size_t n = strlen(text);
	char *copy = xmalloc(n ? n : 1);
	memcpy(copy, text, n);
	int k = ahosts_parse(copy, n, out, max);
	free(copy);
	return k;
}

static bool is_addr(const struct names_addr *a, int fam, const char *text)
{
	uint8_t ip[16] = { 0 };
	return a->fam == fam && inet_pton(fam, text, ip) == 1 && memcmp(a->ip, ip, 16) == 0;
}

static void test_ahosts(void)
{
	struct names_addr out[8];

	t_case = "IPv4, three times (STREAM, DGRAM, RAW)";
	CHECK(ahosts("127.0.0.1       STREAM localhost\n127.0.0.1       DGRAM  \n127.0.0.1       RAW    \n",
		     out, 8) == 1);
	CHECK(is_addr(&out[0], AF_INET, "127.0.0.1"));

	t_case = "IPv6 and IPv4";
	CHECK(ahosts("::1             STREAM localhost\n::1             DGRAM  \n::1             RAW    \n"
		     "127.0.0.1       STREAM \n127.0.0.1       DGRAM  \n127.0.0.1       RAW    \n", out, 8) == 2);
	CHECK(is_addr(&out[0], AF_INET6, "::1"));
	CHECK(is_addr(&out[1], AF_INET, "127.0.0.1"));

	t_case = "several, in order, duplicates apart";
	CHECK(ahosts("2001:db8::5 STREAM gpu.lab\n10.0.0.5 STREAM\n2001:db8::5 DGRAM\n10.0.0.6 STREAM\n"
		     "10.0.0.5 RAW\n::ffff:10.0.0.5 STREAM\n", out, 8) == 4);
	CHECK(is_addr(&out[0], AF_INET6, "2001:db8::5"));
	CHECK(is_addr(&out[1], AF_INET, "10.0.0.5"));
	CHECK(is_addr(&out[2], AF_INET, "10.0.0.6"));
	CHECK(is_addr(&out[3], AF_INET6, "::ffff:10.0.0.5"));	/* another family: another address */

	t_case = "max respected";
	memset(out, 0xaa, sizeof(out));
	CHECK(ahosts("10.0.0.1 STREAM\n10.0.0.2 STREAM\n10.0.0.3 STREAM\n10.0.0.4 STREAM\n", out, 2) == 2);
	CHECK(is_addr(&out[1], AF_INET, "10.0.0.2"));
	CHECK(out[2].fam == (int)0xaaaaaaaa);
	CHECK(ahosts("10.0.0.1 STREAM\n", out, 0) == 0);
	CHECK(ahosts("10.0.0.1 STREAM\n", out, -1) == 0);
	/* A bad line past max still condemns the output. */
	CHECK(ahosts("10.0.0.1 STREAM\n10.0.0.2 STREAM\nbad STREAM\n", out, 1) == -1);

	t_case = "blank lines, tabs, no newline at the end";
	CHECK(ahosts("\n\n10.0.0.1\tSTREAM\n   \n\t\n10.0.0.2", out, 8) == 2);
	CHECK(is_addr(&out[1], AF_INET, "10.0.0.2"));

	t_case = "empty output";
	CHECK(ahosts("", out, 8) == 0);
	CHECK(ahosts("\n", out, 8) == 0);

	t_case = "garbage lines";
	static const char *const bad[] = {
		"localhost STREAM\n", "10.0.0.1 STREAM\nhello\n", "10.0.0.256 STREAM\n", "10.0.0 STREAM\n",
		"10.0.0.1.1\n", "127.1\n", "0x7f.0.0.1\n", "::1::\n", "fe80::1%eth0 STREAM\n", "[::1] STREAM\n",
		"10.0.0.1\r\n", "10.0.0.1,10.0.0.2\n", "-\n", "1:2:3:4:5:6:7:8:9\n",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb STREAM\n",	/* longer than any address */
		"\x01\n", "\xff\xfe\n",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		t_case = bad[i];
		CHECK(ahosts(bad[i], out, 8) == -1);
	}

	t_case = "a NUL inside the address";
	static const char nul[] = "10.0.0.1\0junk STREAM\n";
	char *copy = xmalloc(sizeof(nul) - 1);
	memcpy(copy, nul, sizeof(nul) - 1);
	CHECK(ahosts_parse(copy, sizeof(nul) - 1, out, 8) == -1);
	free(copy);
}

static char base[64];

/* A getent that does what $FAKE_MODE says, and logs its arguments. */
static const char fake_getent[] =
	"#!/bin/sh\n"
	"echo \"$*\" >> \"$FAKE_LOG\"\n"
	"case \"$FAKE_MODE\" in\n"
	"dup) printf '10.0.0.1 STREAM h\\n10.0.0.1 DGRAM\\n10.0.0.1 RAW\\nfe80::2 STREAM\\n' ;;\n"
	"garbage) echo 'hello world' ;;\n"
	"empty) ;;\n"
	"fail) exit 2 ;;\n"
	"late) printf '10.0.0.1 STREAM\\n'; exit 1 ;;\n"
	"big) yes '10.0.0.1 STREAM h' | head -c 100000 ;;\n"
	"hang) exec sleep 10 ;;\n"
	"passwd) echo 'ldap:*:4242424:100:L:/home/ldap:/bin/zsh' ;;\n"
	"other) echo 'ldap:*:4242425:100:L:/home/ldap:/bin/zsh' ;;\n"
	"esac\n";

static char *log_text(void)
{
	char *p = xasprintf("%s/log", base);
	FILE *f = fopen(p, "r");
	char line[256] = "";
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	unlink(p);
	free(p);
	line[strcspn(line, "\n")] = '\0';
	return xstrdup(line);
}

static void test_lookups(void)
{
	struct names_addr out[8];
	struct user_ent u;
	const char *why;
	char *s;

	t_case = "numeric hosts";
	why = NULL;
	CHECK(names_host("127.0.0.1", out, 8, &why) == 1);
	CHECK(is_addr(&out[0], AF_INET, "127.0.0.1"));
	CHECK(names_host("::1", out, 8, &why) == 1);
	CHECK(is_addr(&out[0], AF_INET6, "::1"));
	CHECK(names_host("2001:db8::1", out, 1, &why) == 1);
	CHECK(names_host("127.0.0.1", out, 0, &why) == -1 && why != NULL);

	t_case = "localhost through getent";
	int k = names_host("localhost", out, 8, &why);
	CHECK(k >= 1 && k <= 2);
	for (int i = 0; i < k; i++)
		CHECK(is_addr(&out[i], AF_INET, "127.0.0.1") || is_addr(&out[i], AF_INET6, "::1"));
	why = NULL;
	CHECK(names_host("no-such-host.invalid", out, 8, &why) == -1 && why != NULL);

	t_case = "root from /etc/passwd";
	CHECK(names_user(0, &u) == 0);
	CHECK_STR(u.name, "root");
	CHECK_STR(u.home, "/root");

	/* The rest through a getent of ours, first in PATH. */
	const char *saved_env = getenv("PATH");
	char *saved = xstrdup(saved_env ? saved_env : "/usr/bin:/bin");
	snprintf(base, sizeof(base), "/tmp/ferry-names-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
	s = xasprintf("%s/getent", base);
	FILE *f = fopen(s, "w");
	if (f != NULL) {
		fputs(fake_getent, f);
		fclose(f);
	}
	CHECK(chmod(s, 0755) == 0);
	free(s);
	s = xasprintf("%s:%s", base, saved);
	setenv("PATH", s, 1);
	free(s);
	s = xasprintf("%s/log", base);
	setenv("FAKE_LOG", s, 1);
	free(s);

	t_case = "names that are not names run nothing";
	setenv("FAKE_MODE", "dup", 1);
	static const char *const notnames[] = { "-x", "--help", "-", "" };
	for (size_t i = 0; i < ARRAY_LEN(notnames); i++) {
		why = NULL;
		CHECK(names_host(notnames[i], out, 8, &why) == -1);
		CHECK_STR(why, "not a host name");
		s = log_text();
		CHECK_STR(s, "");
		free(s);
	}
	char longname[NAMES_HOST_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(names_host(longname, out, 8, &why) == -1);
	s = log_text();
	CHECK_STR(s, "");
	free(s);
	longname[NAMES_HOST_MAX] = '\0';
	CHECK(names_host(longname, out, 8, &why) == 2);
	free(log_text());

	t_case = "getent's three lines an address";
	CHECK(names_host("gpu.lab", out, 8, &why) == 2);
	CHECK(is_addr(&out[0], AF_INET, "10.0.0.1"));
	CHECK(is_addr(&out[1], AF_INET6, "fe80::2"));
	s = log_text();
	CHECK_STR(s, "ahosts gpu.lab");
	free(s);
	CHECK(names_host("gpu.lab", out, 1, &why) == 1);
	free(log_text());
	/* Odd bytes reach getent as one argument, never a shell. */
	CHECK(names_host("a b;touch x", out, 8, &why) == 2);
	s = log_text();
	CHECK_STR(s, "ahosts a b;touch x");
	free(s);

	static const struct {
		const char *mode;
	} fails[] = { { "garbage" }, { "empty" }, { "fail" }, { "late" }, { "big" } };
	for (size_t i = 0; i < ARRAY_LEN(fails); i++) {
		t_case = fails[i].mode;
		setenv("FAKE_MODE", fails[i].mode, 1);
		why = NULL;
		CHECK(names_host("gpu.lab", out, 8, &why) == -1 && why != NULL);
		free(log_text());
	}

	t_case = "a getent that hangs is killed";
	setenv("FAKE_MODE", "hang", 1);
	uint64_t t0 = now_mono_ns();
	CHECK(names_host("gpu.lab", out, 8, &why) == -1);
	uint64_t ms = (now_mono_ns() - t0) / 1000000u;
	CHECK(ms >= NAMES_GETENT_MS - 100 && ms < NAMES_GETENT_MS + 2000);
	free(log_text());

	t_case = "a user only getent knows";
	setenv("FAKE_MODE", "passwd", 1);
	CHECK(names_user(4242424, &u) == 0);
	CHECK_STR(u.name, "ldap");
	CHECK_STR(u.home, "/home/ldap");
	CHECK_STR(u.shell, "/bin/zsh");
	s = log_text();
	CHECK_STR(s, "passwd 4242424");
	free(s);
	setenv("FAKE_MODE", "other", 1);
	CHECK(names_user(4242424, &u) == -1);
	free(log_text());
	setenv("FAKE_MODE", "fail", 1);
	CHECK(names_user(4242424, &u) == -1);
	free(log_text());
	CHECK(names_user(0, &u) == 0);		/* /etc/passwd first: no getent */
	s = log_text();
	CHECK_STR(s, "");
	free(s);

	setenv("PATH", saved, 1);
	free(saved);
	unsetenv("FAKE_MODE");
	unsetenv("FAKE_LOG");
	s = xasprintf("rm -rf '%s'", base);
	CHECK(system(s) == 0);
	free(s);
}

void test_names(void)
{
	test_passwd();
	test_ahosts();
	test_lookups();
	t_case = NULL;
}
