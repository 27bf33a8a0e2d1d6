/*
 * test-proto.c - frame codec and message codecs, bad inputs included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits.h"
#include "proto.h"
#include "t.h"
#include "util.h"

/* Feeds bytes through a pipe into a conn and returns conn_next's result. */
static int next_from_bytes(const void *p, size_t n, uint16_t *type, size_t *body_len)
{
	int fds[2];
	struct conn c;
	struct rd body;
	int r;
	if (pipe(fds) < 0)
		return -99;
	if (n)
		(void)!write(fds[1], p, n);
	close(fds[1]);
	conn_init(&c, fds[0], -1);
	r = conn_read(&c, type, &body);
	*body_len = r == 1 ? rd_left(&body) : 0;
	conn_release(&c);
	close(fds[0]);
	return r;
}

static void test_frames(void)
{
	uint16_t type;
	size_t bl;
	static const struct {
		const char *name;
		uint8_t hdr[8];
		size_t n;
		int want;
		uint16_t type;
		size_t len;
	} cases[] = {
		{ "empty payload", { 0, 0, 0, 0, 0x01, 0x02, 0, 0 }, 8, 1, 0x0102, 0 },
		{ "clean EOF", { 0 }, 0, 0, 0, 0 },
		{ "half header", { 0, 0, 0 }, 3, -EPROTO, 0, 0 },
		{ "oversize", { 0x00, 0x10, 0x00, 0x01, 0, 1, 0, 0 }, 8, -EBADMSG, 0, 0 },
		{ "huge", { 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0 }, 8, -EBADMSG, 0, 0 },
		{ "reserved bits", { 0, 0, 0, 0, 0, 1, 0, 1 }, 8, -EBADMSG, 0, 0 },
		{ "payload missing", { 0, 0, 0, 4, 0, 1, 0, 0 }, 8, -EPROTO, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_case = cases[i].name;
		int r = next_from_bytes(cases[i].hdr, cases[i].n, &type, &bl);
		CHECK(r == cases[i].want);
		if (r == 1)
			CHECK(type == cases[i].type && bl == cases[i].len);
	}

	t_case = "max frame accepted";
	struct conn c;
	int fds[2];
	CHECK(pipe(fds) == 0);
	conn_init(&c, -1, fds[1]);
	uint8_t *big = xcalloc(1, FRAME_MAX + 1);
	CHECK(conn_queue(&c, 7, big, FRAME_MAX + 1) == -1);
	CHECK(conn_queue(&c, 7, big, 100) == 0);
	CHECK(conn_flush(&c) == 0);
	close(fds[1]);
	conn_release(&c);
	conn_init(&c, fds[0], -1);
	struct rd body;
	CHECK(conn_read(&c, &type, &body) == 1 && type == 7 && rd_left(&body) == 100);
	CHECK(conn_read(&c, &type, &body) == 0);
	conn_release(&c);
	close(fds[0]);
	free(big);
}

/* conn_ready never blocks and never loses a frame; conn_unread puts the
 * last one back. */
static void test_ready_unread(void)
{
	int fds[2];
	struct conn c, w;
	struct rd body;
	uint16_t type;
	t_case = "conn_ready on an empty pipe, a half frame, a whole one; conn_unread";
	/* A blocking pipe, as the client's may be: conn_ready must not
	 * wait (the alarm ends the test if it does). */
	CHECK(pipe(fds) == 0);
	alarm(10);
	conn_init(&c, fds[0], -1);
	conn_init(&w, -1, fds[1]);
	CHECK(conn_ready(&c) == 0);		/* nothing there: no wait */
	CHECK(conn_queue(&w, 0x0315, "12345678", 8) == 0 && conn_queue(&w, 0x0301, "abc", 3) == 0);
	CHECK(write(fds[1], w.out.data, 5) == 5);	/* half a header */
	CHECK(conn_ready(&c) == 0);
	CHECK(write(fds[1], w.out.data + 5, w.out.len - 5) == (ssize_t)(w.out.len - 5));
	CHECK(conn_ready(&c) == 1);
	CHECK(conn_next(&c, &type, &body) == 1 && type == 0x0315 && rd_left(&body) == 8);
	CHECK(conn_ready(&c) == 1);		/* the first is gone, the next is whole */
	CHECK(conn_next(&c, &type, &body) == 1 && type == 0x0301);
	conn_unread(&c);
	CHECK(conn_ready(&c) == 1);
	CHECK(conn_next(&c, &type, &body) == 1 && type == 0x0301 && rd_left(&body) == 3 &&
	      memcmp(rd_bytes(&body, 3), "abc", 3) == 0);
	CHECK(conn_ready(&c) == 0);
	close(fds[1]);
	CHECK(conn_ready(&c) == 0);		/* EOF: for conn_read to report */
	CHECK(conn_read(&c, &type, &body) == 0);
	conn_release(&c);
	close(fds[0]);

	t_case = "conn_ready leaves a malformed header for conn_read to report";
	CHECK(pipe(fds) == 0);
	conn_init(&c, fds[0], -1);
	static const uint8_t bad[8] = { 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0 };
	CHECK(write(fds[1], bad, sizeof(bad)) == (ssize_t)sizeof(bad));
	CHECK(conn_ready(&c) == 0);		/* no frame to hand out... */
	CHECK(conn_read(&c, &type, &body) == -EBADMSG);	/* ...and conn_read says why */
	conn_release(&c);
	conn_release(&w);
	close(fds[0]);
	close(fds[1]);
	alarm(0);
}

static void test_hello(void)
{
	struct hello h, d;
	struct buf b;
	struct rd r;
	t_case = "hello round trip";
	hello_init_self(&h);
	buf_init(&b, FRAME_MAX);
	CHECK(hello_encode(&h, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(hello_decode(&r, &d) == 0);
	CHECK_STR(d.build_id, h.build_id);
	CHECK(d.version_min == PROTO_VERSION_MIN && d.version_max == PROTO_VERSION_MAX);
	hello_release(&d);

	t_case = "hello: every truncation fails";
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		CHECK(hello_decode(&r, &d) < 0);
	}
	t_case = "hello: bad magic";
	b.data[0] ^= 0xff;
	rd_init(&r, b.data, b.len);
	CHECK(hello_decode(&r, &d) < 0);
	t_case = "hello: min > max";
	b.data[0] ^= 0xff;
	b.data[5] = 9;	/* version_min low byte */
	rd_init(&r, b.data, b.len);
	CHECK(hello_decode(&r, &d) < 0);
	buf_release(&b);
	hello_release(&h);
}

static void test_exec_req(void)
{
	char *argv[] = { "printf", "%s\n", "a b", "", "$(x)", NULL };
	char *env[] = { "K=V", NULL };
	struct exec_req e = { .flags = EXEC_NO_STDIN, .root = "~/p", .argv = argv, .argc = 5, .env = env, .envc = 1 };
	struct exec_req d;
	struct buf b;
	struct rd r;

	t_case = "exec round trip";
	buf_init(&b, FRAME_MAX);
	CHECK(exec_req_encode(&e, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) == 0);
	CHECK(d.argc == 5 && d.argv[5] == NULL);
	CHECK_STR(d.argv[2], "a b");
	CHECK_STR(d.argv[3], "");
	CHECK_STR(d.env[0], "K=V");
	CHECK_STR(d.root, "~/p");
	exec_req_release(&d);

	t_case = "exec with a terminal: its size travels";
	struct exec_req t = e;
	t.flags = EXEC_PTY;
	t.rows = 50;
	t.cols = 132;
	struct buf tb;
	buf_init(&tb, FRAME_MAX);
	CHECK(exec_req_encode(&t, &tb) == 0 && tb.len == b.len + 4);
	rd_init(&r, tb.data, tb.len);
	CHECK(exec_req_decode(&r, &d) == 0 && d.rows == 50 && d.cols == 132);
	exec_req_release(&d);
	rd_init(&r, tb.data, tb.len - 1);
	CHECK(exec_req_decode(&r, &d) < 0);
	rd_init(&r, b.data, b.len);	/* the flag without the size */
	CHECK(exec_req_decode(&r, &d) == 0 && d.rows == 0);
	exec_req_release(&d);
	buf_release(&tb);

	t_case = "exec: truncations fail";
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		CHECK(exec_req_decode(&r, &d) < 0);
	}
	buf_release(&b);

	t_case = "exec: unknown flag";
	e.flags = 0x80;
	buf_init(&b, FRAME_MAX);
	exec_req_encode(&e, &b);
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) < 0);
	buf_release(&b);

	t_case = "exec: empty argv";
	e.flags = 0;
	e.argc = 0;
	buf_init(&b, FRAME_MAX);
	exec_req_encode(&e, &b);
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) < 0);
	buf_release(&b);

	t_case = "exec: env without '='";
	char *bad_env[] = { "NOEQUALS", NULL };
	e.argc = 1;
	e.env = bad_env;
	buf_init(&b, FRAME_MAX);
	exec_req_encode(&e, &b);
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) < 0);
	buf_release(&b);

	t_case = "exec: argc claims more than sent";
	buf_init(&b, 64);
	buf_put_u32(&b, 0);
	buf_put_cstr(&b, "r");
	buf_put_u32(&b, 4000);	/* within the cap, but no strings follow */
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) < 0);
	buf_reset(&b);
	buf_put_u32(&b, 0);
	buf_put_cstr(&b, "r");
	buf_put_u32(&b, PROTO_ARGV_MAX + 1);
	rd_init(&r, b.data, b.len);
	CHECK(exec_req_decode(&r, &d) < 0);
	buf_release(&b);
}

static void test_kv_and_error(void)
{
	struct kv_list kv = { 0 }, d;
	struct buf b;
	struct rd r;
	uint32_t code;
	char *msg;

	t_case = "kv round trip";
	kv_add(&kv, "root", "/x");
	kv_add(&kv, "disk_free", "12");
	buf_init(&b, FRAME_MAX);
	CHECK(kv_encode(&kv, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(kv_decode(&r, &d) == 0);
	CHECK_STR(kv_get(&d, "disk_free"), "12");
	CHECK(kv_get(&d, "nope") == NULL);
	kv_release(&d);
	kv_release(&kv);
	buf_release(&b);

	t_case = "error round trip";
	buf_init(&b, FRAME_MAX);
	CHECK(error_encode(PERR_NOSPC, "disk full", &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(error_decode(&r, &code, &msg) == 0 && code == PERR_NOSPC);
	CHECK_STR(msg, "disk full");
	free(msg);
	rd_init(&r, b.data, b.len - 1);
	CHECK(error_decode(&r, &code, &msg) < 0 && msg == NULL);
	buf_release(&b);

	t_case = "signals map both ways";
	CHECK(wire_to_signal(signal_to_wire(2)) == 2);
	CHECK(wire_to_signal(15) == 15);
	CHECK(wire_to_signal(99) == -1);
	CHECK(wire_to_signal(0) == -1);
}

static int preamble_of(const char *in, size_t n, size_t *noise, char **first, char **boot, size_t *left)
{
	struct conn c;
	conn_init(&c, -1, -1);
	buf_put(&c.in, in, n);
	*noise = 0;
	*first = *boot = NULL;
	int r = conn_preamble(&c, 64, noise, first, boot);
	*left = c.in.len;
	conn_release(&c);
	return r;
}

static void test_preamble(void)
{
	size_t noise, left;
	char *first, *boot;
	const char *P = PROTO_PREAMBLE;
	char in[256];

	t_case = "preamble alone";
	CHECK(preamble_of(P, PROTO_PREAMBLE_LEN, &noise, &first, &boot, &left) == 1);
	CHECK(noise == 0 && first == NULL && left == 0);

	t_case = "noise lines, then preamble and a frame";
	int n = snprintf(in, sizeof(in), "hello\nworld\n%sFRAME", P);
	CHECK(preamble_of(in, (size_t)n, &noise, &first, &boot, &left) == 1);
	CHECK(noise == 12 && left == 5);
	CHECK_STR(first, "hello");
	free(first);

	t_case = "noise glued to the preamble (no newline)";
	n = snprintf(in, sizeof(in), "Welcome!\033]0;title\007%s", P);
	CHECK(preamble_of(in, (size_t)n, &noise, &first, &boot, &left) == 1);
	CHECK(noise == 18 && left == 0);
	free(first);

	t_case = "boot line";
	CHECK(preamble_of("FERRY-BOOT need Linux x86_64 /d\nrest", 36, &noise, &first, &boot, &left) == 2);
	CHECK_STR(boot, "FERRY-BOOT need Linux x86_64 /d");
	CHECK(left == 4);
	free(boot);

	t_case = "partial preamble waits";
	CHECK(preamble_of(P, 5, &noise, &first, &boot, &left) == 0 && left == 5);

	t_case = "too much noise";
	memset(in, 'x', 100);
	in[100] = '\n';
	CHECK(preamble_of(in, 101, &noise, &first, &boot, &left) == -1);
	free(first);
	CHECK(preamble_of(in, 100, &noise, &first, &boot, &left) == -1);
}

void test_proto(void)
{
	test_frames();
	test_ready_unread();
	test_hello();
	test_exec_req();
	test_kv_and_error();
	test_preamble();
}
