/*
 * names.c - users and host names without NSS in the process (names.h).
 */
#define _GNU_SOURCE
#include "names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsx.h"
#include "mon-text.h"
#include "spawn.h"
#include "util.h"

#include "banned.h"

/* One ':'-separated field into dst (NUL-terminated): 0, or -1 when it
 * does not fit or holds a NUL. */
static int field(struct rd *l, char *dst, size_t cap, bool last)
{
	size_t n = 0;
	int c;
	while ((c = tx_peek(l)) >= 0 && (last || c != ':')) {
		if (c == 0 || n + 1 >= cap)
			return -1;
		dst[n++] = (char)c;
		(void)rd_bytes(l, 1);
	}
	dst[n] = '\0';
	if (!last) {
		if (c != ':')
			return -1;
		(void)rd_bytes(l, 1);
	}
	return 0;
}

int passwd_line_parse(struct rd line, uint32_t uid, struct user_ent *u)
{
	char pw[NAMES_FIELD_MAX], num[24], gecos[NAMES_PATH_MAX];
	if (field(&line, u->name, sizeof(u->name), false) < 0 || field(&line, pw, sizeof(pw), false) < 0 ||
	    field(&line, num, sizeof(num), false) < 0 || u->name[0] == '\0')
		return -1;
	struct rd nr;
	rd_init(&nr, num, strlen(num));
	uint64_t v = tx_u64(&nr);
	if (!rd_ok(&nr) || !tx_eof(&nr) || v > UINT32_MAX)
		return -1;
	if (field(&line, num, sizeof(num), false) < 0 || field(&line, gecos, sizeof(gecos), false) < 0 ||
	    field(&line, u->home, sizeof(u->home), false) < 0 || field(&line, u->shell, sizeof(u->shell), true) < 0)
		return -1;
	return v == uid ? 0 : 1;
}

static int passwd_scan(const char *p, size_t n, uint32_t uid, struct user_ent *u)
{
	struct rd in;
	rd_init(&in, p, n);
	while (!tx_eof(&in)) {
		struct rd l = tx_line(&in);
		if (rd_left(&l) && passwd_line_parse(l, uid, u) == 0)
			return 0;
	}
	return -1;
}

/* Runs argv (getent): its output (at most NAMES_GETENT_OUT_MAX bytes) in
 * *out within NAMES_GETENT_MS.  0, or -1 (not there, failed, too slow,
 * more than we read: not an answer). */
static int run_getent(char *const argv[], char **out, size_t *len)
{
	struct buf b;
	bool cut;
	*out = NULL;
	*len = 0;
	buf_init(&b, NAMES_GETENT_OUT_MAX);
	int rc = spawn_capture(argv, NAMES_GETENT_MS, &b, &cut);
	if (rc != 0 || cut || b.len == 0) {
		buf_release(&b);
		return -1;
	}
	*out = xstrndup((const char *)b.data, b.len);
	*len = b.len;
	buf_release(&b);
	return 0;
}

int names_user_files(uint32_t uid, struct user_ent *u)
{
	char *text = NULL;
	size_t len = 0;
	int r = -1;
	if (read_file("/etc/passwd", NAMES_PASSWD_MAX, &text, &len) == 0)
		r = passwd_scan(text, len, uid, u);
	free(text);
	return r;
}

int names_user(uint32_t uid, struct user_ent *u)
{
	char *text = NULL;
	size_t len = 0;
	int r = names_user_files(uid, u);
	if (r == 0)
		return 0;
	char num[24];
	snprintf(num, sizeof(num), "%u", uid);
	char *argv[] = { (char *)"getent", (char *)"passwd", num, NULL };
	if (run_getent(argv, &text, &len) == 0)
		r = passwd_scan(text, len, uid, u);
	free(text);
	return r;
}

int ahosts_parse(const char *p, size_t n, struct names_addr *out, int max)
{
	struct rd in;
	int k = 0;
	rd_init(&in, p, n);
	while (!tx_eof(&in)) {
		struct rd l = tx_line(&in);
		size_t wl;
		const char *w = tx_word(&l, &wl);
		if (!rd_ok(&l))
			return -1;
		if (wl == 0)
			continue;
		char a[INET6_ADDRSTRLEN];
		if (wl >= sizeof(a) || memchr(w, '\0', wl) != NULL)
			return -1;
		memcpy(a, w, wl);
		a[wl] = '\0';
		struct names_addr na = { 0 };
		if (inet_pton(AF_INET, a, na.ip) == 1)
			na.fam = AF_INET;
		else if (inet_pton(AF_INET6, a, na.ip) == 1)
			na.fam = AF_INET6;
		else
			return -1;
		bool dup = false;
		for (int i = 0; i < k && !dup; i++)
			dup = out[i].fam == na.fam && memcmp(out[i].ip, na.ip, 16) == 0;
		if (!dup && k < max)
			out[k++] = na;
	}
	return k;
}

int names_host(const char *host, struct names_addr *out, int max, const char **why)
{
	if (max < 1) {
		*why = "no room";
		return -1;
	}
	memset(&out[0], 0, sizeof(out[0]));
	if (inet_pton(AF_INET, host, out[0].ip) == 1) {
		out[0].fam = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, host, out[0].ip) == 1) {
		out[0].fam = AF_INET6;
		return 1;
	}
	/* A name is never an option to getent, nor anything odd. */
	if (host[0] == '-' || host[0] == '\0' || strlen(host) > NAMES_HOST_MAX) {
		*why = "not a host name";
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	char *argv[] = { (char *)"getent", (char *)"ahosts", (char *)host, NULL };
	if (run_getent(argv, &text, &len) < 0) {
		*why = "unknown host (getent ahosts found nothing)";
		return -1;
	}
	int k = ahosts_parse(text, len, out, max);
	free(text);
	if (k <= 0) {
		*why = "getent ahosts gave no address";
		return -1;
	}
	return k;
}
