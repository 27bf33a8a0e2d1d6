/*
 * test-fwd-wire.c - the forward family's messages (every field bounded,
 * every bad value refused) and the forwards a user types.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "fwd-wire.h"
#include "fwd.h"
#include "limits.h"
#include "t.h"
#include "util.h"

static int spec(const char *arg, struct fwd_spec *sp)
{
	char *err = NULL;
	int r = fwd_spec_parse(arg, sp, &err);
	free(err);
	return r;
}

static void specs(void)
{
	struct fwd_spec sp;
	t_case = "spec: PORT";
	CHECK(spec("6006", &sp) == 0);
	CHECK(sp.lport == 6006 && sp.to.port == 6006 && sp.to.kind == FWD_TCP);
	CHECK_STR(sp.to.host, "");
	CHECK(sp.to.flags == 0);
	CHECK_STR(sp.label, "localhost:6006");
	fwd_spec_release(&sp);

	t_case = "spec: LOCAL:PORT";
	CHECK(spec("9000:6006", &sp) == 0);
	CHECK(sp.lport == 9000 && sp.to.port == 6006);
	fwd_spec_release(&sp);

	t_case = "spec: LOCAL:localhost:PORT is loopback, no naming";
	CHECK(spec("9000:localhost:6006", &sp) == 0);
	CHECK(sp.lport == 9000 && sp.to.port == 6006 && sp.to.flags == 0);
	CHECK_STR(sp.to.host, "");
	fwd_spec_release(&sp);

	t_case = "spec: HOST:PORT is named";
	CHECK(spec("db.internal:5432", &sp) == 0);
	CHECK(sp.lport == 5432 && sp.to.port == 5432 && sp.to.flags == FWD_NAMED_HOST);
	CHECK_STR(sp.to.host, "db.internal");
	CHECK_STR(sp.label, "db.internal:5432");
	fwd_spec_release(&sp);

	t_case = "spec: LOCAL:HOST:PORT";
	CHECK(spec("7000:10.1.2.3:80", &sp) == 0);
	CHECK(sp.lport == 7000 && sp.to.port == 80);
	CHECK_STR(sp.to.host, "10.1.2.3");
	fwd_spec_release(&sp);

	t_case = "spec: [v6]:PORT";
	CHECK(spec("9001:[::1]:8888", &sp) == 0);
	CHECK(sp.lport == 9001 && sp.to.port == 8888);
	CHECK_STR(sp.to.host, "::1");
	CHECK_STR(sp.label, "[::1]:8888");
	fwd_spec_release(&sp);

	t_case = "spec: LOCAL:/socket";
	CHECK(spec("9000:/run/user/1000/x.sock", &sp) == 0);
	CHECK(sp.lport == 9000 && sp.to.kind == FWD_UNIX && sp.to.port == 0);
	CHECK_STR(sp.to.path, "/run/user/1000/x.sock");
	fwd_spec_release(&sp);

	t_case = "spec: refused";
	static const char *const bad[] = {
		"", "0", "65536", "abc", "9000:", ":80", "/x.sock", "9000:host", "host:0", "host:99999",
		"ho st:80", "h;rm -rf:80", "1:2:3:4", "[::1:80", "9000:a'b:80", "-1",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		CHECK(spec(bad[i], &sp) < 0);
		if (spec(bad[i], &sp) == 0) {
			fprintf(stderr, "accepted '%s'\n", bad[i]);
			fwd_spec_release(&sp);
		}
	}
}

static void roundtrips(void)
{
	struct buf b;
	struct rd r;

	t_case = "FWD_OPEN round trip";
	struct fwd_open o = { .kind = FWD_TCP, .flags = FWD_NAMED_HOST, .host = "db", .port = 5432, .path = "" }, o2;
	buf_init(&b, FRAME_MAX);
	CHECK(fwd_open_encode(&o, &b) == 0);
	rd_init(&r, b.data, b.len);
	CHECK(fwd_open_decode(&r, &o2) == 0);
	CHECK(o2.kind == FWD_TCP && o2.port == 5432 && o2.flags == FWD_NAMED_HOST);
	CHECK_STR(o2.host, "db");
	fwd_open_release(&o2);

	t_case = "FWD_OPEN: every truncation refused";
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		CHECK(fwd_open_decode(&r, &o2) < 0);
	}
	buf_release(&b);

	t_case = "FWD_OPEN: bad values refused";
	struct fwd_open bad[] = {
		{ .kind = FWD_TCP, .host = "", .port = 0, .path = "" },
		{ .kind = FWD_TCP, .host = "", .port = 80, .path = "/x" },
		{ .kind = FWD_UNIX, .host = "", .port = 0, .path = "rel.sock" },
		{ .kind = FWD_UNIX, .host = "h", .port = 0, .path = "/x" },
		{ .kind = FWD_UNIX, .host = "", .port = 5, .path = "/x" },
		{ .kind = 3, .host = "", .port = 80, .path = "" },
		{ .kind = FWD_TCP, .flags = 0x80, .host = "", .port = 80, .path = "" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		buf_init(&b, FRAME_MAX);
		fwd_open_encode(&bad[i], &b);
		rd_init(&r, b.data, b.len);
		CHECK(fwd_open_decode(&r, &o2) < 0);
		buf_release(&b);
	}

	t_case = "FWD_WATCH round trip and refusals";
	struct fwd_watch_req w = { .job = "12", .flags = FWD_WATCH_ONCE }, w2;
	buf_init(&b, 256);
	fwd_watch_encode(&w, &b);
	rd_init(&r, b.data, b.len);
	CHECK(fwd_watch_decode(&r, &w2) == 0);
	CHECK_STR(w2.job, "12");
	CHECK(w2.flags == FWD_WATCH_ONCE);
	fwd_watch_release(&w2);
	buf_release(&b);
	struct fwd_watch_req wbad[] = { { .job = "../x", .flags = 0 }, { .job = "1", .flags = 2 } };
	for (size_t i = 0; i < ARRAY_LEN(wbad); i++) {
		buf_init(&b, 256);
		fwd_watch_encode(&wbad[i], &b);
		rd_init(&r, b.data, b.len);
		CHECK(fwd_watch_decode(&r, &w2) < 0);
		buf_release(&b);
	}

	t_case = "FWD_PORT round trip";
	char *urls[] = { "http://localhost:8888/?token=a", "http://127.0.0.1:8888/?token=a", NULL };
	struct fwd_port p = { .job = "7", .up = true, .family = 4, .addr = "0.0.0.0", .port = 8888, .urls = urls,
			      .nurls = 2 },
			p2;
	buf_init(&b, FRAME_MAX);
	fwd_port_encode(&p, &b);
	rd_init(&r, b.data, b.len);
	CHECK(fwd_port_decode(&r, &p2) == 0);
	CHECK(p2.up && p2.family == 4 && p2.port == 8888 && p2.nurls == 2);
	CHECK_STR(p2.urls[1], "http://127.0.0.1:8888/?token=a");
	CHECK(p2.urls[2] == NULL);
	fwd_port_release(&p2);
	for (size_t n = 0; n < b.len; n++) {
		rd_init(&r, b.data, n);
		CHECK(fwd_port_decode(&r, &p2) < 0);
	}
	buf_release(&b);

	t_case = "FWD_PORT: bad values refused";
	struct fwd_port pbad[] = {
		{ .job = "7", .family = 5, .addr = "::", .port = 1 },
		{ .job = "7", .family = 6, .addr = "::", .port = 0 },
		{ .job = "7", .family = 4, .addr = "\x1b[2J", .port = 1 },
		{ .job = "", .family = 4, .addr = "0.0.0.0", .port = 1 },
		{ .job = "a/b", .family = 4, .addr = "0.0.0.0", .port = 1 },
	};
	for (size_t i = 0; i < ARRAY_LEN(pbad); i++) {
		buf_init(&b, FRAME_MAX);
		fwd_port_encode(&pbad[i], &b);
		rd_init(&r, b.data, b.len);
		CHECK(fwd_port_decode(&r, &p2) < 0);
		buf_release(&b);
	}

	t_case = "FWD_PORT: more URLs than FWD_URLS_MAX refused";
	buf_init(&b, FRAME_MAX);
	buf_put_cstr(&b, "7");
	buf_put_u8(&b, 1);
	buf_put_u8(&b, 4);
	buf_put_cstr(&b, "0.0.0.0");
	buf_put_u16(&b, 80);
	buf_put_u32(&b, FWD_URLS_MAX + 1);
	for (int i = 0; i <= FWD_URLS_MAX; i++)
		buf_put_cstr(&b, "http://x:80/");
	rd_init(&r, b.data, b.len);
	CHECK(fwd_port_decode(&r, &p2) < 0);
	buf_release(&b);

	t_case = "FWD_PORT: an up byte other than 0 or 1 refused";
	buf_init(&b, FRAME_MAX);
	buf_put_cstr(&b, "7");
	buf_put_u8(&b, 2);
	buf_put_u8(&b, 4);
	buf_put_cstr(&b, "0.0.0.0");
	buf_put_u16(&b, 80);
	buf_put_u32(&b, 0);
	rd_init(&r, b.data, b.len);
	CHECK(fwd_port_decode(&r, &p2) < 0);
	buf_release(&b);
}

void test_fwd_wire(void)
{
	specs();
	roundtrips();
}
