/*
 * test-buf.c - the bounded buffer and the sticky-error reader.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "t.h"

static void test_buf_limits(void)
{
	struct buf b;
	t_case = "buf max";
	buf_init(&b, 8);
	CHECK(buf_put(&b, "12345678", 8) == 0);
	CHECK(buf_put(&b, "9", 1) == -1);
	CHECK(b.len == 8);
	buf_consume(&b, 3);
	CHECK(b.len == 5 && memcmp(b.data, "45678", 5) == 0);
	CHECK(buf_put_u32(&b, 1) == -1);	/* 5 + 4 > 8: nothing appended */
	CHECK(b.len == 5);
	CHECK(buf_put_u16(&b, 0x0102) == 0 && b.len == 7);
	CHECK(buf_space(&b, 2) == NULL);
	CHECK(buf_space(&b, SIZE_MAX) == NULL);
	buf_consume(&b, 100);
	CHECK(b.len == 0);
	buf_release(&b);
	buf_release(&b);	/* twice is fine */

	t_case = "buf str is all or nothing";
	buf_init(&b, 6);
	CHECK(buf_put_str(&b, "abc", 3) == -1);
	CHECK(b.len == 0);
	buf_release(&b);
}

static void test_rd_ints(void)
{
	const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct rd r;
	t_case = "rd ints big-endian";
	rd_init(&r, d, sizeof(d));
	CHECK(rd_u8(&r) == 1);
	CHECK(rd_u16(&r) == 0x0203);
	CHECK(rd_u32(&r) == 0x04050607u);
	CHECK(rd_u64(&r) == 0x08090a0b0c0d0e0full);
	CHECK(rd_ok(&r) && rd_left(&r) == 0);
	CHECK(rd_u8(&r) == 0);
	CHECK(!rd_ok(&r));
	/* sticky: later reads fail even if they would fit */
	CHECK(rd_left(&r) == 0);

	t_case = "rd partial int fails";
	rd_init(&r, d, 3);
	CHECK(rd_u32(&r) == 0 && !rd_ok(&r));

	t_case = "rd empty input";
	rd_init(&r, NULL, 0);
	CHECK(rd_bytes(&r, 0) != NULL && rd_ok(&r));
	CHECK(rd_u8(&r) == 0 && !rd_ok(&r));
}

static void test_rd_strings(void)
{
	struct buf b;
	struct rd r;
	size_t n;
	static const struct {
		const char *name;
		const uint8_t bytes[12];
		size_t len, max;
		int ok;
		const char *want;
	} cases[] = {
		{ "plain", { 0, 0, 0, 3, 'a', 'b', 'c' }, 7, 16, 1, "abc" },
		{ "empty", { 0, 0, 0, 0 }, 4, 16, 1, "" },
		{ "over max", { 0, 0, 0, 3, 'a', 'b', 'c' }, 7, 2, 0, NULL },
		{ "truncated", { 0, 0, 0, 5, 'a', 'b' }, 6, 16, 0, NULL },
		{ "huge length", { 0xff, 0xff, 0xff, 0xff, 'a' }, 5, SIZE_MAX, 0, NULL },
		{ "embedded NUL", { 0, 0, 0, 3, 'a', 0, 'c' }, 7, 16, 0, NULL },
		{ "short header", { 0, 0 }, 2, 16, 0, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].name;
		rd_init(&r, cases[i].bytes, cases[i].len);
		char *s = rd_cstr(&r, cases[i].max);
		CHECK(rd_ok(&r) == (cases[i].ok != 0));
		if (cases[i].ok)
			CHECK_STR(s, cases[i].want);
		else
			CHECK(s == NULL);
		free(s);
	}

	t_case = "round trip";
	buf_init(&b, 1024);
	CHECK(buf_put_cstr(&b, "hello") == 0);
	CHECK(buf_put_u64(&b, UINT64_MAX) == 0);
	rd_init(&r, b.data, b.len);
	const uint8_t *p = rd_str(&r, 100, &n);
	CHECK(p && n == 5 && memcmp(p, "hello", 5) == 0);
	CHECK(rd_u64(&r) == UINT64_MAX);
	rd_expect_end(&r);
	CHECK(rd_ok(&r));

	t_case = "trailing bytes fail expect_end";
	rd_init(&r, b.data, b.len);
	(void)rd_str(&r, 100, &n);
	rd_expect_end(&r);
	CHECK(!rd_ok(&r));
	buf_release(&b);
}

void test_buf(void)
{
	test_buf_limits();
	test_rd_ints();
	test_rd_strings();
}
