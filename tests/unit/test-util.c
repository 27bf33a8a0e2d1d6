/*
 * test-util.c - word splitting, shell quoting, cksum, JSON strings.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "util.h"

static void test_split(void)
{
	static const struct {
		const char *in;
		int n;
		const char *w[4];
	} cases[] = {
		{ "ssh", 1, { "ssh" } },
		{ "  ssh   -F  x ", 3, { "ssh", "-F", "x" } },
		{ "ssh -F 'a b'", 3, { "ssh", "-F", "a b" } },
		{ "ssh -o \"X=\\\"q\\\"\"", 3, { "ssh", "-o", "X=\"q\"" } },
		{ "a\\ b c", 2, { "a b", "c" } },
		{ "x''y", 1, { "xy" } },
		{ "", -1, { NULL } },
		{ "   ", -1, { NULL } },
		{ "ssh 'open", -1, { NULL } },
		{ "ssh \"open", -1, { NULL } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **w;
		t_case = cases[i].in;
		int n = split_words(cases[i].in, &w);
		CHECK(n == cases[i].n);
		for (int k = 0; n > 0 && k < n && k < 4; k++)
			CHECK_STR(w[k], cases[i].w[k]);
		if (n > 0)
			CHECK(w[n] == NULL);
		free_words(w);
	}
}

static void test_quote(void)
{
	static const char *const cases[] = { "plain", "a b", "it's", "'", "''", "$(id)", "`x`", "a\nb", "\\", "" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i];
		/* A real /bin/sh must read the quoted word back unchanged. */
		char *q = sh_quote(cases[i]);
		char *cmd = xasprintf("printf '%%s' %s", q);
		FILE *p = popen(cmd, "r");
		char got[64] = "";
		size_t n = p ? fread(got, 1, sizeof(got) - 1, p) : 0;
		got[n] = '\0';
		if (p)
			pclose(p);
		CHECK_STR(got, cases[i]);
		free(cmd);
		free(q);
	}
}

static void test_cksum(void)
{
	/* Values from POSIX cksum(1). */
	t_case = "cksum empty";
	CHECK(posix_cksum("", 0) == 4294967295u);
	t_case = "cksum abc";
	CHECK(posix_cksum("abc\n", 4) == 1112837078u);
	t_case = "cksum matches cksum(1)";
	char buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	FILE *f = fopen("/tmp/ferry-unit-cksum", "wb");
	if (f) {
		fwrite(buf, 1, sizeof(buf), f);
		fclose(f);
	}
	FILE *p = popen("cksum < /tmp/ferry-unit-cksum", "r");
	unsigned long want = 0, len = 0;
	if (p) {
		if (fscanf(p, "%lu %lu", &want, &len) != 2)
			want = 0;
		pclose(p);
	}
	remove("/tmp/ferry-unit-cksum");
	CHECK(len == sizeof(buf));
	CHECK(posix_cksum(buf, sizeof(buf)) == (uint32_t)want);
}

static void test_json(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "x", "\"x\"" }, { "a\"b\\c", "\"a\\\"b\\\\c\"" }, { "\n\t", "\"\\u000a\\u0009\"" },
		{ "\xc3\xa9", "\"\xc3\xa9\"" }, { "\xff", "\"\xef\xbf\xbd\"" }, { "\xc3", "\"\xef\xbf\xbd\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].in;
		char *j = json_quote(cases[i].in);
		CHECK_STR(j, cases[i].out);
		free(j);
	}
}

static void test_size(void)
{
	uint64_t v;
	t_case = "parse_size";
	CHECK(parse_size("4096", &v) == 0 && v == 4096);
	CHECK(parse_size("512M", &v) == 0 && v == 512ull << 20);
	CHECK(parse_size("8G", &v) == 0 && v == 8ull << 30);
	CHECK(parse_size("8GiB", &v) == 0 && v == 8ull << 30);
	CHECK(parse_size("1.5T", &v) == 0 && v == 3ull << 39);
	CHECK(parse_size("100k", &v) == 0 && v == 102400);
	CHECK(parse_size("10B", &v) == 0 && v == 10);
	CHECK(parse_size("", &v) < 0);
	CHECK(parse_size("G", &v) < 0);
	CHECK(parse_size("-1G", &v) < 0);
	CHECK(parse_size("12Q", &v) < 0);
	CHECK(parse_size("1G extra", &v) < 0);
	CHECK(parse_size("2000000000T", &v) < 0);
}

static void test_visible(void)
{
	t_case = "str_visible and columns";
	static const struct { const char *in, *want; } cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "a\nb", "a\\nb" },
		{ "tab\there\r", "tab\\there\\r" },
		{ "esc\x1b[2J", "esc\\e[2J" },
		{ "\x1b]0;title\a", "\\e]0;title\\a" },
		{ "\b\v\f", "\\b\\v\\f" },
		{ "\x01\x1f", "\\x01\\x1f" },
		{ "del\x7f", "del\\x7f" },
		/* The backslash is escaped: the output reads back to one input. */
		{ "a\\nb", "a\\\\nb" },
		{ "\\x1b", "\\\\x1b" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac" },		/* 日本 */
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },				/* an emoji */
		{ "\xc2\xa0", "\xc2\xa0" },						/* U+00A0, first after C1 */
		/* C1: a lone byte, and U+0080..U+009F encoded (CSI, NEL). */
		{ "\x9b" "2J", "\\x9b2J" },
		{ "\x85", "\\x85" },
		{ "\xc2\x9b" "2J", "\\xc2\\x9b2J" },
		{ "\xc2\x80\xc2\x9f", "\\xc2\\x80\\xc2\\x9f" },
		/* Not UTF-8: cut short, overlong, surrogate, past U+10FFFF. */
		{ "\xc3", "\\xc3" },
		{ "\xc3x", "\\xc3x" },
		{ "\xe6\x97", "\\xe6\\x97" },
		{ "\xc0\xaf", "\\xc0\\xaf" },
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		{ "\xff\xfe", "\\xff\\xfe" },
		/* Layout, not text: line separators and bidi controls. */
		{ "a\xe2\x80\xa8" "b", "a\\u2028b" },
		{ "x\xe2\x80\xae" "cod.exe", "x\\u202ecod.exe" },
		{ "\xe2\x81\xa6\xd8\x9c", "\\u2066\\u061c" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *v = str_visible(cases[i].in);
		CHECK_STR(v, cases[i].want);
		CHECK(strchr(v, '\x1b') == NULL);
		free(v);
	}
	/* NUL inside, and the worst case: 4 bytes out per byte in. */
	char buf[4 * 4 + 1];
	CHECK(str_visible_to(buf, "a\0\x1b" "b", 4) == 8);
	CHECK_STR(buf, "a\\x00\\eb");
	memset(buf, 'Z', sizeof(buf));
	CHECK(str_visible_to(buf, "\x01\xff\x9b\x7f", 4) == 16);
	CHECK_STR(buf, "\\x01\\xff\\x9b\\x7f");
	char *n = str_visible_n("\0", 1);
	CHECK_STR(n, "\\x00");
	free(n);
	/* Every byte value alone: nothing a terminal acts on comes out. */
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 };
		char *v = str_visible(in);
		for (const unsigned char *q = (const unsigned char *)v; *q; q++)
			CHECK(*q >= 0x20 && *q < 0x7f);
		free(v);
	}
	char *l = str_visible_lines("ok\r\nbad\x1b]0;t\a\r\n\nlast\r", 21);
	CHECK_STR(l, "ok\nbad\\e]0;t\\a\n\nlast\\r");
	free(l);
	/* vis: eight at once stay valid; NULL is said. */
	const char *v1 = vis("a\nb"), *v2 = vis(NULL);
	for (int i = 0; i < 6; i++)
		(void)vis("x");
	CHECK_STR(v1, "a\\nb");
	CHECK_STR(v2, "(null)");
	CHECK(str_columns("caf\xc3\xa9") == 4);
	char a[] = "python3 train.py --lr 3", b[] = "short", c[] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	str_cut_columns(a, 10);
	CHECK_STR(a, "python3...");
	str_cut_columns(b, 5);
	CHECK_STR(b, "short");
	str_cut_columns(c, 4);
	CHECK_STR(c, "\xc3\xa9...");
}

void test_util(void)
{
	test_visible();
	test_size();
	test_split();
	test_quote();
	test_cksum();
	test_json();
}
