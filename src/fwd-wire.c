/*
 * fwd-wire.c - encoding and bounded decoding of the forward family.
 */
#include <stdlib.h>
#include <string.h>

#include "fwd-wire.h"
#include "limits.h"
#include "mon-jobs.h"
#include "util.h"

#include "banned.h"

void fwd_open_release(struct fwd_open *o)
{
	if (o == NULL)
		return;
	free(o->host);
	free(o->path);
	memset(o, 0, sizeof(*o));
}

int fwd_open_encode(const struct fwd_open *o, struct buf *out)
{
	int r = buf_put_u8(out, o->kind);
	r |= buf_put_u32(out, o->flags);
	r |= buf_put_cstr(out, o->host ? o->host : "");
	r |= buf_put_u16(out, o->port);
	r |= buf_put_cstr(out, o->path ? o->path : "");
	return r;
}

int fwd_open_decode(struct rd *r, struct fwd_open *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = rd_u8(r);
	o->flags = rd_u32(r);
	o->host = rd_cstr(r, FWD_HOST_MAX);
	o->port = rd_u16(r);
	o->path = rd_cstr(r, PATH_REL_MAX);
	rd_expect_end(r);
	if (rd_ok(r) && (o->flags & ~FWD_OPEN_FLAGS))
		rd_fail(r);
	if (rd_ok(r) && o->kind == FWD_TCP && (o->port == 0 || o->path[0]))
		rd_fail(r);
	if (rd_ok(r) && o->kind == FWD_UNIX && (o->port != 0 || o->host[0] || o->path[0] != '/'))
		rd_fail(r);
	if (rd_ok(r) && o->kind != FWD_TCP && o->kind != FWD_UNIX)
		rd_fail(r);
	if (!rd_ok(r)) {
		fwd_open_release(o);
		return -1;
	}
	return 0;
}

void fwd_watch_release(struct fwd_watch_req *w)
{
	if (w == NULL)
		return;
	free(w->job);
	memset(w, 0, sizeof(*w));
}

int fwd_watch_encode(const struct fwd_watch_req *w, struct buf *out)
{
	int r = buf_put_cstr(out, w->job ? w->job : "");
	r |= buf_put_u32(out, w->flags);
	return r;
}

int fwd_watch_decode(struct rd *r, struct fwd_watch_req *w)
{
	memset(w, 0, sizeof(*w));
	w->job = rd_cstr(r, FWD_JOB_MAX);
	w->flags = rd_u32(r);
	rd_expect_end(r);
	if (rd_ok(r) && ((w->flags & ~FWD_WATCH_FLAGS) || (w->job[0] && !mon_job_id_ok(w->job))))
		rd_fail(r);
	if (!rd_ok(r)) {
		fwd_watch_release(w);
		return -1;
	}
	return 0;
}

bool fwd_addr_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!(('0' <= *s && *s <= '9') || ('a' <= *s && *s <= 'f') || ('A' <= *s && *s <= 'F') || *s == '.' ||
		      *s == ':'))
			return false;
	return true;
}

void fwd_port_release(struct fwd_port *p)
{
	if (p == NULL)
		return;
	free(p->job);
	free(p->addr);
	for (uint32_t i = 0; p->urls && i < p->nurls; i++)
		free(p->urls[i]);
	free(p->urls);
	memset(p, 0, sizeof(*p));
}

int fwd_port_encode(const struct fwd_port *p, struct buf *out)
{
	int r = buf_put_cstr(out, p->job);
	r |= buf_put_u8(out, p->up ? 1 : 0);
	r |= buf_put_u8(out, p->family);
	r |= buf_put_cstr(out, p->addr);
	r |= buf_put_u16(out, p->port);
	r |= buf_put_u32(out, p->nurls);
	for (uint32_t i = 0; i < p->nurls; i++)
		r |= buf_put_cstr(out, p->urls[i]);
	return r;
}

int fwd_port_decode(struct rd *r, struct fwd_port *p)
{
	memset(p, 0, sizeof(*p));
	p->job = rd_cstr(r, FWD_JOB_MAX);
	uint8_t up = rd_u8(r);
	p->up = up == 1;
	p->family = rd_u8(r);
	p->addr = rd_cstr(r, FWD_ADDR_MAX);
	p->port = rd_u16(r);
	uint32_t n = rd_u32(r);
	if (up > 1 || (p->family != 4 && p->family != 6) || n > FWD_URLS_MAX)
		rd_fail(r);
	p->urls = xcalloc(FWD_URLS_MAX + 1, sizeof(char *));
	for (uint32_t i = 0; i < n && rd_ok(r); i++) {
		char *u = rd_cstr(r, FWD_URL_MAX);
		if (u == NULL)
			break;
		p->urls[p->nurls++] = u;
	}
	rd_expect_end(r);
	if (rd_ok(r) && (!mon_job_id_ok(p->job) || !fwd_addr_ok(p->addr) || p->port == 0))
		rd_fail(r);
	if (!rd_ok(r)) {
		fwd_port_release(p);
		return -1;
	}
	return 0;
}
