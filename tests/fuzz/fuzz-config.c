/*
 * fuzz-config.c - libFuzzer harness: arbitrary bytes as ferry.ini.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char *err = NULL;
	/* The loader NUL-terminates what it reads; so do we. */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&c, 0, sizeof(c));
	(void)config_parse(&c, "fuzz.ini", text, size, &err);
	free(err);
	config_release(&c);
	free(text);
	return 0;
}
