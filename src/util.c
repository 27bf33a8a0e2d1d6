/*
 * util.c - allocation, messages, small string helpers, the build id.
 */
#define _GNU_SOURCE
#include "util.h"
#include "limits.h"
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0-dev"
#endif

void oom(size_t n)
{
	fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", n);
	abort();
}

/* Large arrays (a 100k-file index, a manifest) are filled front to back
 * once: asked for transparent huge pages, each 2 MiB of them costs one
 * page fault instead of 512.  Only whole aligned 2 MiB spans inside the
 * block are advised, so nothing beyond it becomes resident.  A fault
 * costs ~0.5 us on bare metal but 10-15 us under some hypervisors' shadow
 * paging, where a sync of 100k files spent ~130 ms of CPU on them. */
static void advise_huge(void *p, size_t n)
{
	if (n < ALLOC_HUGE_MIN)
		return;
	uintptr_t a = ((uintptr_t)p + ALLOC_HUGE_PAGE - 1) & ~(uintptr_t)(ALLOC_HUGE_PAGE - 1);
	uintptr_t z = ((uintptr_t)p + n) & ~(uintptr_t)(ALLOC_HUGE_PAGE - 1);
	if (z > a)
		(void)madvise((void *)a, z - a, MADV_HUGEPAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom(n);
	advise_huge(p, n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom(n * size);
	/* Fresh memory calloc knows to be zero is not touched: advised
	 * before the caller's first write. */
	advise_huge(p, n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom(n);
	advise_huge(p, n);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		bug("bad format '%s'", fmt);
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

static void vmsg(const char *prefix, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	char *raw = xvasprintf(fmt, ap);
	/* Messages carry names from the server and the tree: every one is
	 * made visible here, so no caller has to. */
	char *m = str_visible(raw);
	free(raw);
	/* One write so concurrent processes do not interleave inside a line. */
	char *line = xasprintf("%s%s\n", prefix, m);
	(void)write_all(2, line, strlen(line));
	free(line);
	free(m);
}

void error_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("ferry: ", fmt, ap);
	va_end(ap);
}

void warn_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("ferry: warning: ", fmt, ap);
	va_end(ap);
}

void hint_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("hint: ", fmt, ap);
	va_end(ap);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("ferry: ", fmt, ap);
	va_end(ap);
	exit(code);
}

void bug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("ferry: BUG: ", fmt, ap);
	va_end(ap);
	abort();
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };
				(void)poll(&pf, 1, -1);
				continue;
			}
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t now_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

char *sh_quote(const char *s)
{
	size_t n = 2;
	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 4 : 1;
	char *out = xmalloc(n + 1), *o = out;
	*o++ = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *c;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

int split_words(const char *s, char ***out)
{
	size_t cap = 4, n = 0, len = strlen(s);
	char **v = xcalloc(cap, sizeof(*v));
	char *w = xmalloc(len + 1);
	const char *c = s;

	for (;;) {
		while (*c == ' ' || *c == '\t' || *c == '\n')
			c++;
		if (*c == '\0')
			break;
		size_t wl = 0;
		while (*c && *c != ' ' && *c != '\t' && *c != '\n') {
			if (*c == '\'') {
				const char *e = strchr(c + 1, '\'');
				if (e == NULL)
					goto bad;
				memcpy(w + wl, c + 1, (size_t)(e - c - 1));
				wl += (size_t)(e - c - 1);
				c = e + 1;
			} else if (*c == '"') {
				c++;
				while (*c && *c != '"') {
					if (*c == '\\' && c[1] && strchr("\"\\$`", c[1]))
						c++;
					w[wl++] = *c++;
				}
				if (*c != '"')
					goto bad;
				c++;
			} else if (*c == '\\' && c[1]) {
				w[wl++] = c[1];
				c += 2;
			} else {
				w[wl++] = *c++;
			}
		}
		if (n + 2 > cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrndup(w, wl);
	}
	if (n == 0)
		goto bad;
	v[n] = NULL;
	free(w);
	*out = v;
	return (int)n;
bad:
	v[n] = NULL;
	free_words(v);
	free(w);
	*out = NULL;
	return -1;
}

void free_words(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

const char *ferry_version(void)
{
	return FERRY_VERSION;
}

static int exe_held = -1;

void exe_hold_shared(void)
{
	if (exe_held >= 0)
		return;
	exe_held = platform_open_self_exe();
	if (exe_held >= 0 && flock(exe_held, LOCK_SH | LOCK_NB) < 0) {
		close(exe_held);
		exe_held = -1;
	}
}

int exe_held_fd(void)
{
	return exe_held;
}

const char *ferry_build_id(void)
{
	static char id[96];
	if (id[0] == '\0') {
		/* The build id: a hash of the linked output, so two builds of
		 * one version never share an agent path. */
		unsigned char b[20];
		char hex[41] = "";
		size_t n = platform_build_id(b, sizeof(b));
		for (size_t j = 0; j < n; j++)
			snprintf(hex + 2 * j, 3, "%02x", b[j]);
		if (hex[0] != '\0')
			snprintf(id, sizeof(id), "%s-%.12s", FERRY_VERSION, hex);
		else
			snprintf(id, sizeof(id), "%s", FERRY_VERSION);
	}
	return id;
}

uint32_t posix_cksum(const void *p, size_t n)
{
	static uint32_t table[256];
	if (table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i << 24;
			for (int k = 0; k < 8; k++)
				c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
			table[i] = c;
		}
	}
	const unsigned char *b = p;
	uint32_t crc = 0;
	for (size_t i = 0; i < n; i++)
		crc = (crc << 8) ^ table[(crc >> 24) ^ b[i]];
	for (size_t len = n; len != 0; len >>= 8)
		crc = (crc << 8) ^ table[(crc >> 24) ^ (len & 0xff)];
	return ~crc;
}

/* The UTF-8 sequence at p (n bytes left): its length, or 0 when it is not
 * well formed (overlong, surrogate, past U+10FFFF, cut short); *cp gets
 * the code point. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		*cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		*cp = c & 0x0fu;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		*cp = c & 0x07u;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3fu);
	}
	return len;
}

/* Code points a terminal or a reader takes for layout rather than text:
 * line and paragraph separators and the bidirectional controls (a name
 * that reads backwards). */
static bool cp_format(uint32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* The letter of a C escape for c (\e for ESC, \\ for a backslash), or 0. */
static char escape_letter(unsigned char c)
{
	switch (c) {
	case '\a': return 'a';
	case '\b': return 'b';
	case '\t': return 't';
	case '\n': return 'n';
	case '\v': return 'v';
	case '\f': return 'f';
	case '\r': return 'r';
	case 0x1b: return 'e';
	case '\\': return '\\';
	default: return 0;
	}
}

size_t str_visible_to(char *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	char *o = out;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		char letter = escape_letter(c);
		uint32_t cp = 0;
		size_t len = c >= 0x80 ? utf8_seq(s + i, n - i, &cp) : 1;
		if (letter) {
			*o++ = '\\';
			*o++ = letter;
		} else if ((c >= 0x20 && c < 0x7f) || (len > 1 && cp >= 0xa0 && !cp_format(cp))) {
			memcpy(o, s + i, len);
			o += len;
		} else if (len > 1 && cp >= 0xa0) {
			o += snprintf(o, 7, "\\u%04x", (unsigned)cp);
		} else {
			/* NUL, the other C0 controls, DEL, C1 controls (a lone
			 * byte, or U+0080..U+009F byte by byte) and bytes that
			 * are not UTF-8. */
			len = len ? len : 1;
			for (size_t j = 0; j < len; j++) {
				*o++ = '\\';
				*o++ = 'x';
				*o++ = hex[s[i + j] >> 4];
				*o++ = hex[s[i + j] & 15];
			}
		}
		i += len ? len : 1;
	}
	*o = '\0';
	return (size_t)(o - out);
}

char *str_visible_n(const void *p, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4)
		oom(n);
	char *out = xmalloc(n * 4 + 1);
	str_visible_to(out, p, n);
	return out;
}

char *str_visible(const char *s)
{
	return str_visible_n(s, strlen(s));
}

char *str_visible_lines(const void *p, size_t n)
{
	if (n > (SIZE_MAX - 1) / 4)
		oom(n);
	const char *s = p, *end = s + n;
	char *out = xmalloc(n * 4 + 1), *o = out;
	*o = '\0';
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		size_t keep = nl && len && s[len - 1] == '\r' ? len - 1 : len;
		o += str_visible_to(o, s, keep);
		if (nl)
			*o++ = '\n';
		*o = '\0';
		s += len + (nl != NULL);
	}
	return out;
}

const char *vis(const char *s)
{
	/* Per thread: a push's worker threads never race the printing one. */
	static _Thread_local char *ring[8];
	static _Thread_local unsigned next;
	unsigned k = next++ % ARRAY_LEN(ring);
	free(ring[k]);
	ring[k] = str_visible(s ? s : "(null)");
	return ring[k];
}

size_t str_columns(const char *s)
{
	size_t c = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		c += (*p & 0xc0) != 0x80;
	return c;
}

void str_cut_columns(char *s, size_t cols)
{
	if (cols < 3 || str_columns(s) <= cols)
		return;
	size_t c = 0;
	unsigned char *p = (unsigned char *)s;
	for (; *p; p++) {
		if ((*p & 0xc0) != 0x80 && c++ == cols - 3)
			break;
	}
	memcpy(p, "...", 4);
}

char *json_quote(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 6 + 3), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	*o++ = '"';
	while (*p) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			p++;
		} else if (c < 0x20) {
			o += snprintf(o, 7, "\\u%04x", c);
			p++;
		} else if (c < 0x80) {
			*o++ = (char)c;
			p++;
		} else {
			/* Copy a well-formed UTF-8 sequence, else U+FFFD. */
			int len = c >= 0xf0 ? (c < 0xf5 ? 4 : 0) : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
			int ok = len > 0;
			for (int i = 1; ok && i < len; i++)
				ok = (p[i] & 0xc0) == 0x80;
			if (ok) {
				memcpy(o, p, (size_t)len);
				o += len;
				p += len;
			} else {
				memcpy(o, "\xef\xbf\xbd", 3);
				o += 3;
				p++;
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	double mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (mul > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	else if (mul == 1 && strcmp(end, "B") == 0)
		end++;
	if (*end != '\0' || v * mul > (double)(1ull << 60))
		return -1;
	*out = (uint64_t)(v * mul);
	return 0;
}

void trace_phase(const char *fmt, ...)
{
	static uint64_t t0;
	static int on = -1;
	if (on < 0)
		on = getenv("FERRY_TIMING") != NULL;
	if (!on)
		return;
	uint64_t now = now_mono_ns();
	if (t0 == 0)
		t0 = now;
	/* The monotonic clock too (seconds mod 100), to line up the client's
	 * phases with the agent's on one machine. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%d] %8.2f ms @%9.3f %6ld faults %8.2f cpu ms %7ld KiB peak %s\n", (int)getpid(),
		(double)(now - t0) / 1e6, (double)(now % 100000000000ULL) / 1e9, ru.ru_minflt, cpu, ru.ru_maxrss,
		what);
}
