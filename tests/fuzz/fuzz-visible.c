/*
 * fuzz-visible.c - libFuzzer harness: str_visible, the one way a string
 * from the server or a file name reaches the terminal.  What comes out
 * holds no control byte, is well-formed UTF-8 with no C1 control, is at
 * most 4 bytes per byte in, and reads back to exactly the input.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The length of a well-formed UTF-8 sequence at p, else 0. */
static size_t seq_ok(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 && !(c == 0xc2 && p[1] < 0xa0) ? 2 : 0;	/* no C1 */
	if (c >= 0xe0 && c <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (c == 0xe0 && p[1] < 0xa0) ||
		    (c == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80 ||
		    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = str_visible_n(data, size);
	size_t n = strlen(v);
	if (n > 4 * size)
		abort();
	const unsigned char *p = (const unsigned char *)v;
	for (size_t i = 0; i < n;) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = seq_ok(p + i);	/* the NUL ends a cut sequence */
		if (l == 0)
			abort();
		i += l;
	}
	/* Read back: one input for one output. */
	uint8_t *back = malloc(size + 1);
	size_t k = 0;
	static const char letters[] = "abtnvfre\\", bytes[] = "\a\b\t\n\v\f\r\x1b\\";
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '\\') {
			back[k++] = (uint8_t)v[i];
			continue;
		}
		char e = v[++i];
		const char *L = e ? strchr(letters, e) : NULL;
		if (L) {
			back[k++] = (uint8_t)bytes[L - letters];
		} else if (e == 'x' && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			back[k++] = (uint8_t)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
			i += 2;
		} else if (e == 'u') {
			unsigned cp = 0;
			for (int j = 1; j <= 4; j++) {
				if (hexval(v[i + j]) < 0)
					abort();
				cp = cp * 16 + (unsigned)hexval(v[i + j]);
			}
			i += 4;
			if (cp < 0x800) {
				back[k++] = (uint8_t)(0xc0 | cp >> 6);
			} else {
				back[k++] = (uint8_t)(0xe0 | cp >> 12);
				back[k++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			}
			back[k++] = (uint8_t)(0x80 | (cp & 0x3f));
		} else {
			abort();
		}
		if (k > size)
			abort();
	}
	if (k != size || memcmp(back, data, size) != 0)
		abort();
	free(back);
	free(v);
	return 0;
}
