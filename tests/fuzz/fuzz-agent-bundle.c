/*
 * fuzz-agent-bundle.c - libFuzzer harness: the ELF head reader on any
 * bytes (an agent file of the bundle, as a disk or another user left it).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent-bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hex[41];
	memset(hex, 'z', sizeof(hex));
	int r = elf_build_id(data, size, hex);
	size_t len = strnlen(hex, sizeof(hex));
	/* Found: 1 to 20 bytes as lower-case hex; not found: "". */
	if (len == sizeof(hex) || (r == 0) != (len > 0) || len % 2 != 0 || (r != 0 && r != -1))
		abort();
	for (size_t i = 0; i < len; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			abort();
	const char *m = elf_machine(data, size);
	if (m != NULL && strcmp(m, "x86_64") != 0 && strcmp(m, "aarch64") != 0 && strcmp(m, "ppc64le") != 0)
		abort();
	/* Both need the whole ELF64 header fields they read. */
	if ((m != NULL || r == 0) && size < 58)
		abort();
	return 0;
}
