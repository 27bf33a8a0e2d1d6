/*
 * buf.c - bounded buffer and sticky-error reader (see buf.h).
 *
 * Invariant: no read ever goes past r->len, and no buffer ever holds more
 * than b->max bytes; the size of an allocation is never taken from a length
 * the peer declared, only from bytes actually appended.
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#include "banned.h"

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

uint8_t *buf_space(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		if (cap > b->max)
			cap = b->max;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	if (n > b->cap - b->len)
		bug("buf_commit past the reserved space");
	b->len += n;
}

int buf_put(struct buf *b, const void *p, size_t n)
{
	uint8_t *d = buf_space(b, n);
	if (d == NULL)
		return -1;
	if (n)
		memcpy(d, p, n);
	b->len += n;
	return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return buf_put(b, x, 2);
}

void be32_put(uint8_t x[4], uint32_t v)
{
	x[0] = (uint8_t)(v >> 24);
	x[1] = (uint8_t)(v >> 16);
	x[2] = (uint8_t)(v >> 8);
	x[3] = (uint8_t)v;
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];
	be32_put(x, v);
	return buf_put(b, x, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	if (buf_put_u32(b, (uint32_t)(v >> 32)) < 0)
		return -1;
	return buf_put_u32(b, (uint32_t)v);
}

int buf_put_str(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX)
		return -1;
	size_t old = b->len;
	if (buf_put_u32(b, (uint32_t)n) < 0 || buf_put(b, p, n) < 0) {
		b->len = old;
		return -1;
	}
	return 0;
}

int buf_put_cstr(struct buf *b, const char *s)
{
	return buf_put_str(b, s, strlen(s));
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void rd_init(struct rd *r, const void *p, size_t n)
{
	r->p = p;
	r->len = n;
	r->off = 0;
	r->err = false;
}

bool rd_ok(const struct rd *r)
{
	return !r->err;
}

size_t rd_left(const struct rd *r)
{
	return r->err ? 0 : r->len - r->off;
}

void rd_fail(struct rd *r)
{
	r->err = true;
}

const uint8_t *rd_bytes(struct rd *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	/* A zero-length view of empty input is still a valid pointer. */
	const uint8_t *p = r->p ? r->p + r->off : (const uint8_t *)"";
	r->off += n;
	return p;
}

uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_bytes(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_bytes(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);
	return hi << 32 | rd_u32(r);
}

const uint8_t *rd_str(struct rd *r, size_t max, size_t *len)
{
	uint32_t n = rd_u32(r);
	*len = 0;
	if (r->err)
		return NULL;
	if (n > max) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = rd_bytes(r, n);
	if (p != NULL)
		*len = n;
	return p;
}

char *rd_cstr(struct rd *r, size_t max)
{
	size_t n;
	const uint8_t *p = rd_str(r, max, &n);
	if (p == NULL)
		return NULL;
	if (memchr(p, '\0', n) != NULL) {
		r->err = true;
		return NULL;
	}
	return xstrndup((const char *)p, n);
}

void rd_expect_end(struct rd *r)
{
	if (!r->err && r->off != r->len)
		r->err = true;
}

const uint8_t *rd_peek(const struct rd *r)
{
	return r->err ? NULL : r->p + r->off;
}
