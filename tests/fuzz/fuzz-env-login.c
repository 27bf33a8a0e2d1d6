/*
 * fuzz-env-login.c - libFuzzer harness: the login-env cache file and a
 * login shell's dump output.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "env-login.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loginenv le;
	char **vars;
	uint32_t n;
	if (loginenv_decode(data, size, &le) == 0)
		loginenv_release(&le);
	if (loginenv_parse_dump(data, size, &vars, &n) == 0)
		free_words(vars);
	return 0;
}
