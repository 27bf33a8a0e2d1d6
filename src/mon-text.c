/*
 * mon-text.c - the text cursor: every byte it reads is checked against
 * the reader's length first, through rd_bytes().
 */
#include "mon-text.h"

#include <string.h>

#include "banned.h"

int tx_peek(const struct rd *r)
{
	if (r->err || r->off >= r->len)
		return -1;
	return r->p[r->off];
}

bool tx_eof(const struct rd *r)
{
	return tx_peek(r) < 0;
}

void tx_skip_blank(struct rd *r)
{
	int c;
	while ((c = tx_peek(r)) == ' ' || c == '\t')
		(void)rd_bytes(r, 1);
}

struct rd tx_line(struct rd *r)
{
	struct rd l;
	if (tx_eof(r)) {
		rd_init(&l, NULL, 0);
		rd_fail(&l);
		return l;
	}
	size_t left = rd_left(r);
	const uint8_t *start = rd_peek(r);
	const uint8_t *nl = memchr(start, '\n', left);
	size_t n = nl ? (size_t)(nl - start) : left;
	rd_init(&l, rd_bytes(r, n), n);
	if (nl)
		(void)rd_bytes(r, 1);
	return l;
}

bool tx_lit(struct rd *r, const char *s)
{
	size_t n = strlen(s);
	if (r->err || n > rd_left(r) || memcmp(rd_peek(r), s, n) != 0)
		return false;
	(void)rd_bytes(r, n);
	return true;
}

uint64_t tx_u64(struct rd *r)
{
	uint64_t v = 0;
	int c, digits = 0;
	tx_skip_blank(r);
	while ((c = tx_peek(r)) >= '0' && c <= '9') {
		if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10) {
			rd_fail(r);
			return 0;
		}
		v = v * 10 + (uint64_t)(c - '0');
		digits++;
		(void)rd_bytes(r, 1);
	}
	if (digits == 0) {
		rd_fail(r);
		return 0;
	}
	return v;
}

uint64_t tx_fixed100(struct rd *r)
{
	uint64_t whole = tx_u64(r), frac = 0;
	if (!rd_ok(r) || whole > UINT64_MAX / 100 - 100)
		return rd_fail(r), 0;
	if (tx_peek(r) == '.') {
		int c, k = 0;
		(void)rd_bytes(r, 1);
		while ((c = tx_peek(r)) >= '0' && c <= '9') {
			if (k < 2)
				frac = frac * 10 + (uint64_t)(c - '0');
			k++;
			(void)rd_bytes(r, 1);
		}
		if (k == 1)
			frac *= 10;
	}
	return whole * 100 + frac;
}

const char *tx_word(struct rd *r, size_t *len)
{
	int c;
	tx_skip_blank(r);
	size_t start = r->off;
	while ((c = tx_peek(r)) >= 0 && c != ' ' && c != '\t' && c != '\n')
		(void)rd_bytes(r, 1);
	*len = r->err ? 0 : r->off - start;
	return *len ? (const char *)r->p + start : "";
}

void tx_skip_past(struct rd *r, char c)
{
	int x;
	while ((x = tx_peek(r)) >= 0 && x != c)
		(void)rd_bytes(r, 1);
	(void)rd_bytes(r, 1);
}

void tx_skip_words(struct rd *r, int n)
{
	size_t len;
	while (n-- > 0) {
		(void)tx_word(r, &len);
		if (len == 0)
			rd_fail(r);
	}
}
