/*
 * fuzz-names.c - libFuzzer harness: every line as a passwd line (an
 * /etc/passwd or `getent passwd` output), all of it as `getent ahosts`
 * output from the server.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mon-text.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_user(const struct user_ent *u)
{
	if (strnlen(u->name, sizeof(u->name)) == sizeof(u->name) || u->name[0] == '\0' ||
	    strnlen(u->home, sizeof(u->home)) == sizeof(u->home) ||
	    strnlen(u->shell, sizeof(u->shell)) == sizeof(u->shell))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd in;
	struct user_ent u;
	rd_init(&in, data, size);
	while (!tx_eof(&in)) {
		struct rd l = tx_line(&in);
		static const uint32_t uids[] = { 0, 1000, UINT32_MAX };
		for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
			int r = passwd_line_parse(l, uids[i], &u);
			if (r < -1 || r > 1)
				abort();
			if (r == 0)
				check_user(&u);
		}
	}

	struct names_addr out[4];
	int k = ahosts_parse((const char *)data, size, out, 4);
	if (k < -1 || k > 4)
		abort();
	for (int i = 0; i < k; i++) {
		if (out[i].fam != AF_INET && out[i].fam != AF_INET6)
			abort();
		for (int j = 0; j < i; j++)
			if (out[i].fam == out[j].fam && memcmp(out[i].ip, out[j].ip, 16) == 0)
				abort();
	}
	return 0;
}
