/*
 * fuzz-config.c - libFuzzer harness: arbitrary bytes as ferry.ini, and
 * as the user's own config.ini (the same parser, its other entry point).
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
	struct user_vals u = { 0 };
	err = NULL;
	(void)config_parse_user(&u, "config.ini", text, size, "gpu", "/w/p", &err);
	free(err);
	user_vals_release(&u);
	free(text);
	return 0;
}
