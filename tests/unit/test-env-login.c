/*
 * test-loginenv.c - the login-env cache codec and the dump parser.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "env-login.h"
#include "t.h"
#include "util.h"

void test_env_login(void)
{
	struct loginenv le = { 0 }, d;
	struct loginenv_key k = { .path = "/home/u/.bashrc", .exists = 1, .mtime_ns = 5, .size = 6, .ino = 7 };
	char *vars[] = { "PATH=/opt/conda/bin:/usr/bin", "EMPTY=", NULL };
	struct buf b;

	t_case = "cache round trip";
	le.shell = "/bin/bash";
	le.keys = &k;
	le.nkeys = 1;
	le.vars = vars;
	le.nvars = 2;
	buf_init(&b, SIZE_MAX);
	CHECK(loginenv_encode(&le, &b) == 0);
	CHECK(loginenv_decode(b.data, b.len, &d) == 0);
	CHECK_STR(d.shell, "/bin/bash");
	CHECK(d.nkeys == 1 && d.keys[0].ino == 7 && d.keys[0].exists == 1);
	CHECK(d.nvars == 2 && d.vars[2] == NULL);
	CHECK_STR(d.vars[1], "EMPTY=");
	loginenv_release(&d);

	t_case = "cache truncations fail";
	for (size_t n = 0; n < b.len; n++)
		CHECK(loginenv_decode(b.data, n, &d) < 0);
	buf_release(&b);

	t_case = "dump with rc noise before it";
	buf_init(&b, SIZE_MAX);
	buf_put(&b, "Welcome!\n", 9);
	buf_put(&b, LOGINENV_DUMP_MAGIC, strlen(LOGINENV_DUMP_MAGIC));
	buf_put_u32(&b, 2);
	buf_put_cstr(&b, "A=1");
	buf_put_cstr(&b, "B=x=y");
	char **v;
	uint32_t n;
	CHECK(loginenv_parse_dump(b.data, b.len, &v, &n) == 0 && n == 2);
	if (n == 2)
		CHECK_STR(v[1], "B=x=y");
	free_words(v);

	t_case = "dump: bad variable";
	buf_reset(&b);
	buf_put(&b, LOGINENV_DUMP_MAGIC, strlen(LOGINENV_DUMP_MAGIC));
	buf_put_u32(&b, 1);
	buf_put_cstr(&b, "=novalue");
	CHECK(loginenv_parse_dump(b.data, b.len, &v, &n) < 0 && v == NULL);

	t_case = "dump: too many";
	buf_reset(&b);
	buf_put(&b, LOGINENV_DUMP_MAGIC, strlen(LOGINENV_DUMP_MAGIC));
	buf_put_u32(&b, LOGIN_ENV_VARS_MAX + 1);
	CHECK(loginenv_parse_dump(b.data, b.len, &v, &n) < 0);

	t_case = "dump: no magic";
	CHECK(loginenv_parse_dump("PATH=/x\n", 8, &v, &n) < 0);
	buf_release(&b);
}
