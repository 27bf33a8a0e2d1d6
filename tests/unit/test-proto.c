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

#include "chan.h"
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
		/* A peer without CAP_CHANNELS: the field is zero. */
		{ "channel without channels", { 0, 0, 0, 0, 0, 1, 0, 1 }, 8, -EBADMSG, 0, 0 },
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
	CHECK(conn_queue(&c, 7, big, FRAME_MAX + 1) == -EMSGSIZE);
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

/* Channel ids in headers, the output bound, and the hooks a blocking
 * conversation uses to share the conn with other channels. */
static void test_channel_frames(void)
{
	struct conn c;
	struct rd body;
	uint16_t type;
	uint32_t len;
	uint16_t t, ch;

	t_case = "frame_header_ch and frame_header";
	struct buf b;
	buf_init(&b, 64);
	CHECK(frame_put_ch(&b, 7, MSG_STDOUT, "ab", 2) == 0);
	CHECK(frame_header_ch(b.data, &len, &t, &ch) == 0 && len == 2 && t == MSG_STDOUT && ch == 7);
	CHECK(frame_header(b.data, &len, &t) == -EBADMSG);	/* inner frames have no channel */
	buf_reset(&b);
	CHECK(frame_put_ch(&b, 0, MSG_STDOUT, "ab", 2) == 0 && frame_header(b.data, &len, &t) == 0);
	buf_release(&b);
	buf_init(&b, 12);
	CHECK(frame_put(&b, 1, "12345", 5) == -ENOBUFS && b.len == 0);	/* all or nothing */
	buf_release(&b);

	t_case = "conn_next with and without channels";
	conn_init(&c, -1, -1);
	c.chans = true;
	CHECK(frame_put_ch(&c.in, 3, MSG_MON_STOP, NULL, 0) == 0);
	CHECK(frame_put_ch(&c.in, 0, MSG_STDIN, "x", 1) == 0);
	CHECK(conn_next(&c, &type, &body) == 1 && type == MSG_MON_STOP && c.chan == 3);
	CHECK(conn_next(&c, &type, &body) == 1 && type == MSG_STDIN && c.chan == 0);
	CHECK(conn_next(&c, &type, &body) == 0);
	c.chans = false;
	CHECK(frame_put_ch(&c.in, 3, MSG_MON_STOP, NULL, 0) == 0);
	CHECK(conn_next(&c, &type, &body) == -EBADMSG);
	conn_release(&c);

	t_case = "conn_queue stamps tx_chan; the queue is bounded";
	conn_init(&c, -1, -1);
	c.tx_chan = 9;
	CHECK(conn_queue(&c, MSG_STDOUT, "z", 1) == 0);
	CHECK(frame_header_ch(c.out.data, &len, &t, &ch) == 0 && ch == 9);
	uint8_t *chunk = xcalloc(1, FRAME_MAX);
	int r = 0;
	size_t frames = 0;
	while ((r = conn_queue(&c, MSG_STDOUT, chunk, FRAME_MAX)) == 0)
		frames++;
	CHECK(r == -ENOBUFS);
	CHECK(c.out.len <= CONN_OUT_MAX && frames >= CONN_OUT_HIGH / FRAME_MAX);
	free(chunk);
	conn_release(&c);
}

struct diverted {
	int n;
	uint16_t chans[8], types[8];
};

static int divert(struct conn *c, uint16_t chan, uint16_t type, struct rd *body, void *arg)
{
	struct diverted *d = arg;
	if (d->n < 8) {
		d->chans[d->n] = chan;
		d->types[d->n] = type;
	}
	d->n++;
	return type == MSG_CHAN_RESET ? -EPIPE : 0;
}

static void test_hooks(void)
{
	struct conn c;
	struct rd body;
	uint16_t type;
	struct diverted d = { 0 };
	struct conn_hooks h = { .divert = divert, .arg = &d, .chan = 0 };

	t_case = "hooks: other channels' frames are diverted, in order";
	conn_init(&c, -1, -1);
	c.chans = true;
	c.hooks = &h;
	frame_put_ch(&c.in, 1, MSG_MON_STOP, NULL, 0);
	frame_put_ch(&c.in, 2, MSG_STDIN, "a", 1);
	frame_put_ch(&c.in, 0, MSG_SYNC_PING, NULL, 0);
	frame_put_ch(&c.in, 2, MSG_CHAN_RESET, NULL, 0);
	frame_put_ch(&c.in, 0, MSG_SYNC_PONG, NULL, 0);
	CHECK(conn_next(&c, &type, &body) == 1 && type == MSG_SYNC_PING && c.chan == 0);
	CHECK(d.n == 2 && d.chans[0] == 1 && d.types[0] == MSG_MON_STOP && d.chans[1] == 2);
	/* A divert that fails fails the read; the frame is consumed. */
	CHECK(conn_next(&c, &type, &body) == -EPIPE);
	CHECK(conn_next(&c, &type, &body) == 1 && type == MSG_SYNC_PONG);
	CHECK(d.n == 3);
	conn_release(&c);
}

static void test_chan_window(void)
{
	struct chan a, b;
	struct conn c;
	struct rd body;

	t_case = "chan: a frame waits for credit, WINDOW releases it";
	chan_init(&a, 5);
	conn_init(&c, -1, -1);
	CHECK(chan_room(&a));
	uint8_t *chunk = xcalloc(1, FRAME_MAX);
	/* Two MiB of window: two 1 MiB frames go, the third waits. */
	a.credit = 2 * FRAME_MAX;
	CHECK(chan_queue(&a, MSG_JOB_OUTPUT, chunk, FRAME_MAX) == 0);
	CHECK(!chan_room(&a));		/* over CHAN_OUT_HIGH: the producer stops */
	CHECK(chan_pump(&a, &c) == FRAME_HDR_LEN + FRAME_MAX && chan_idle(&a));
	buf_reset(&c.out);		/* "written" */
	CHECK(chan_queue(&a, MSG_JOB_OUTPUT, chunk, FRAME_MAX) == 0);
	CHECK(chan_pump(&a, &c) > 0);
	buf_reset(&c.out);
	CHECK(a.credit == 0);
	CHECK(chan_queue(&a, MSG_JOB_OUTPUT, chunk, 10) == 0);
	CHECK(chan_pump(&a, &c) == 0 && !chan_idle(&a));
	struct buf w;
	buf_init(&w, 8);
	buf_put_u32(&w, 10);
	rd_init(&body, w.data, w.len);
	CHECK(chan_recv(&a, MSG_CHAN_WINDOW, &body, NULL, NULL) == CHAN_RX_WINDOW);
	CHECK(chan_pump(&a, &c) == FRAME_HDR_LEN + 10 && a.credit == 0);
	buf_release(&w);

	t_case = "chan: a WINDOW past CHAN_WINDOW is the peer's error";
	buf_init(&w, 8);
	buf_put_u32(&w, CHAN_WINDOW + 1);
	rd_init(&body, w.data, w.len);
	CHECK(chan_recv(&a, MSG_CHAN_WINDOW, &body, NULL, NULL) == -EBADMSG);
	rd_init(&body, w.data, 3);
	CHECK(chan_recv(&a, MSG_CHAN_WINDOW, &body, NULL, NULL) == -EBADMSG);
	buf_release(&w);

	t_case = "chan: the receiver's window, granted back in batches";
	chan_init(&b, 6);
	buf_reset(&c.out);
	rd_init(&body, chunk, FRAME_MAX);
	CHECK(chan_recv(&b, MSG_STDIN, &body, NULL, NULL) == CHAN_RX_DATA);
	rd_init(&body, chunk, FRAME_MAX);
	CHECK(chan_recv(&b, MSG_STDIN, &body, NULL, NULL) == CHAN_RX_DATA);
	rd_init(&body, chunk, 1);
	CHECK(chan_recv(&b, MSG_STDIN, &body, NULL, NULL) == -EBADMSG);	/* over the window */
	chan_consumed(&b, &c, 100);
	CHECK(c.out.len == 0);		/* below CHAN_WINDOW_ACK: nothing yet */
	chan_consumed(&b, &c, CHAN_WINDOW_ACK);
	CHECK(c.out.len == FRAME_HDR_LEN + 4);
	uint32_t len;
	uint16_t t, id;
	CHECK(frame_header_ch(c.out.data, &len, &t, &id) == 0 && t == MSG_CHAN_WINDOW && id == 6);
	rd_init(&body, c.out.data + FRAME_HDR_LEN, 4);
	CHECK(rd_u32(&body) == CHAN_WINDOW_ACK + 100);
	rd_init(&body, chunk, 1);
	CHECK(chan_recv(&b, MSG_STDIN, &body, NULL, NULL) == CHAN_RX_DATA);

	t_case = "chan: close after the data, reset drops it";
	buf_reset(&c.out);
	CHECK(chan_queue(&b, MSG_STDOUT, "x", 1) == 0);
	chan_close(&b);
	CHECK(chan_queue(&b, MSG_STDOUT, "y", 1) == -EPIPE);
	CHECK(!chan_done(&b));
	(void)chan_pump(&b, &c);
	CHECK(frame_header_ch(c.out.data + FRAME_HDR_LEN + 1, &len, &t, &id) == 0 && t == MSG_CHAN_CLOSE);
	rd_init(&body, NULL, 0);
	CHECK(chan_recv(&b, MSG_CHAN_CLOSE, &body, NULL, NULL) == CHAN_RX_CLOSE);
	CHECK(chan_done(&b));
	rd_init(&body, chunk, 1);
	CHECK(chan_recv(&b, MSG_STDIN, &body, NULL, NULL) == -EBADMSG);	/* after its end */
	rd_init(&body, NULL, 0);
	CHECK(chan_recv(&b, MSG_CHAN_CLOSE, &body, NULL, NULL) == -EBADMSG);	/* twice */

	buf_reset(&c.out);
	chan_reset(&a, &c, PERR_PROTOCOL, "bad");
	CHECK(chan_idle(&a) && a.sent_end);
	CHECK(frame_header_ch(c.out.data, &len, &t, &id) == 0 && t == MSG_CHAN_RESET && id == 5);
	struct buf e;
	buf_init(&e, 64);
	error_encode(PERR_NOJOB, "gone", &e);
	rd_init(&body, e.data, e.len);
	uint32_t code = 0;
	char *msg = NULL;
	CHECK(chan_recv(&a, MSG_CHAN_RESET, &body, &code, &msg) == CHAN_RX_RESET);
	CHECK(code == PERR_NOJOB && msg && strcmp(msg, "gone") == 0);
	free(msg);
	CHECK(chan_done(&a));
	buf_release(&e);
	free(chunk);
	chan_release(&a);
	chan_release(&b);
	conn_release(&c);
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
	test_channel_frames();
	test_hooks();
	test_chan_window();
	test_hello();
	test_exec_req();
	test_kv_and_error();
	test_preamble();
}
