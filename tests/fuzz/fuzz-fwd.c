/*
 * fuzz-fwd.c - libFuzzer harness: the same bytes as log text for the URL
 * finder (and the local rewrite of each URL found), as /proc/net/tcp and
 * tcp6, and as the bodies of FWD_OPEN, FWD_WATCH and FWD_PORT (each one
 * decoded must encode back to the same bytes).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fwd-detect.h"
#include "fwd-url.h"
#include "fwd-wire.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct buf *b, const uint8_t *data, size_t size)
{
	if (b->len != size || memcmp(b->data, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct fwd_url u[8];
	size_t at = 0, k;

	while ((k = fwd_url_find(p + at, size - at, u, 8)) > 0) {
		for (size_t i = 0; i < k; i++) {
			const char *s = p + at + u[i].off;
			if (u[i].off + u[i].len > size - at || u[i].len > FWD_URL_MAX || u[i].port == 0)
				abort();
			if (i && u[i].off < u[i - 1].off + u[i - 1].len)
				abort();
			/* A URL found is one URL on its own, and so is its
			 * rewrite, with the new port. */
			char *l = fwd_url_local(s, u[i].len, (data[0] & 1) ? "::1" : NULL, 4242);
			struct fwd_url v[2];
			if (l == NULL || fwd_url_find(l, strlen(l), v, 2) != 1 || v[0].off != 0 ||
			    v[0].len != strlen(l) || v[0].port != 4242)
				abort();
			free(l);
		}
		at += u[k - 1].off + u[k - 1].len;
	}

	for (uint8_t fam = 4; fam <= 6; fam += 2) {
		struct fwd_sock *v = NULL;
		size_t n = 0;
		(void)fwd_proc_net_parse(p, size, fam, 1000, &v, &n);
		for (size_t i = 0; i < n; i++)
			if (v[i].family != fam || memchr(v[i].addr, '\0', sizeof(v[i].addr)) == NULL)
				abort();
		free(v);
	}

	struct rd r;
	struct buf b;
	struct fwd_open o;
	rd_init(&r, data, size);
	if (fwd_open_decode(&r, &o) == 0) {
		buf_init(&b, FRAME_MAX);
		if (fwd_open_encode(&o, &b) < 0)
			abort();
		same(&b, data, size);
		buf_release(&b);
		fwd_open_release(&o);
	}
	struct fwd_watch_req w;
	rd_init(&r, data, size);
	if (fwd_watch_decode(&r, &w) == 0) {
		buf_init(&b, FRAME_MAX);
		if (fwd_watch_encode(&w, &b) < 0)
			abort();
		same(&b, data, size);
		buf_release(&b);
		fwd_watch_release(&w);
	}
	struct fwd_port fp;
	rd_init(&r, data, size);
	if (fwd_port_decode(&r, &fp) == 0) {
		if (fp.nurls > FWD_URLS_MAX || fp.urls[fp.nurls] != NULL || !fwd_addr_ok(fp.addr))
			abort();
		buf_init(&b, FRAME_MAX);
		if (fwd_port_encode(&fp, &b) < 0)
			abort();
		same(&b, data, size);
		buf_release(&b);
		fwd_port_release(&fp);
	}
	return 0;
}
