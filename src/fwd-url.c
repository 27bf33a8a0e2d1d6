/*
 * fwd-url.c - URLs in a job's log (fwd-url.h).
 *
 * One pass over the text: a candidate starts at "http://" or "https://"
 * (any case: a URL inside "\e[4m...\e[0m" starts right after a letter),
 * its authority is read with explicit bounds, and once a candidate's end
 * is found the scan goes on from there, so the work is linear in n.
 */
#define _GNU_SOURCE
#include "fwd-url.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

#include "banned.h"

#define V6_TEXT_MAX 45		/* "ffff:...:255.255.255.255" */

struct parsed {
	size_t auth;		/* offset of the authority (after "://") */
	size_t auth_end;	/* offset just past the port */
	size_t end;		/* offset just past the URL */
	uint16_t port;
};

bool fwd_url_stop(unsigned char c)
{
	/* Bytes >= 0x80 too: servers print URLs percent-encoded, and a
	 * box-drawing border ("│") right after one is not part of it. */
	return c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
}

static bool trailing(char c)
{
	return c == '.' || c == ',' || c == ')' || c == ']';
}

static bool lower_is(char c, char want)
{
	return (c | 0x20) == want;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_';
}

static bool v6_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* Reads a candidate at p[i].  True with *u filled when it is a URL; either
 * way *next is where the scan goes on (never <= i). */
static bool parse_at(const char *p, size_t n, size_t i, struct parsed *u, size_t *next)
{
	size_t k = i;
	*next = i + 1;
	if (n - k < 7 || !lower_is(p[k], 'h') || !lower_is(p[k + 1], 't') || !lower_is(p[k + 2], 't') ||
	    !lower_is(p[k + 3], 'p'))
		return false;
	k += 4;
	if (lower_is(p[k], 's'))
		k++;
	if (n - k < 3 || memcmp(p + k, "://", 3) != 0)
		return false;
	k += 3;
	u->auth = k;
	if (k < n && p[k] == '[') {
		size_t h = ++k;
		while (k < n && k - h <= V6_TEXT_MAX && v6_char(p[k]))
			k++;
		if (k == h || k - h > V6_TEXT_MAX || k == n || p[k] != ']')
			return false;
		k++;
	} else {
		size_t h = k;
		while (k < n && k - h <= FWD_HOST_MAX && host_char(p[k]))
			k++;
		if (k == h || k - h > FWD_HOST_MAX)
			return false;
	}
	if (k == n || p[k] != ':')
		return false;
	k++;
	uint32_t port = 0;
	size_t d = k;
	while (k < n && k - d < 6 && p[k] >= '0' && p[k] <= '9')
		port = port * 10 + (uint32_t)(p[k++] - '0');
	if (k == d || k - d > 5 || port == 0 || port > 65535)
		return false;
	u->auth_end = k;
	u->port = (uint16_t)port;
	if (k < n && !fwd_url_stop((unsigned char)p[k]) && !trailing(p[k]) && p[k] != '/' && p[k] != '?' &&
	    p[k] != '#')
		return false;
	/* From here on the candidate is read to its end, and the scan resumes
	 * there whatever the verdict. */
	size_t e = k;
	while (e < n && !fwd_url_stop((unsigned char)p[e]))
		e++;
	*next = e;
	while (e > u->auth_end && trailing(p[e - 1]))
		e--;
	if (e > u->auth_end && p[u->auth_end] != '/' && p[u->auth_end] != '?' && p[u->auth_end] != '#')
		return false;
	if (e - i > FWD_URL_MAX)
		return false;
	u->end = e;
	return true;
}

size_t fwd_url_find(const char *p, size_t n, struct fwd_url *out, size_t max)
{
	size_t found = 0, i = 0;
	while (i < n && found < max) {
		if (!lower_is(p[i], 'h')) {
			i++;
			continue;
		}
		struct parsed u;
		size_t next;
		if (parse_at(p, n, i, &u, &next)) {
			out[found].off = i;
			out[found].len = u.end - i;
			out[found].port = u.port;
			found++;
		}
		i = next;
	}
	return found;
}

char *fwd_url_local(const char *url, size_t len, const char *host, uint16_t port)
{
	struct parsed u;
	size_t next;
	if (!parse_at(url, len, 0, &u, &next) || u.end != len || next != len)
		return NULL;
	if (host == NULL)
		host = "127.0.0.1";
	bool v6 = strchr(host, ':') != NULL;
	return xasprintf("%.*s%s%s%s:%u%.*s", (int)u.auth, url, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port,
			 (int)(len - u.auth_end), url + u.auth_end);
}
