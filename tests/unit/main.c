/*
 * main.c - runs the unit test groups and prints "unit: N passed, N failed".
 *
 * Every tests/unit/test-NAME.c defines test_NAME() (dashes become
 * underscores); the Makefile lists them in groups.h, so a new file is a new
 * group with nothing to register.  `unit NAME...` runs only those groups
 * (`make unit T=sync-delta`); `unit -l` lists them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "t.h"

int t_passed, t_failed;
const char *t_case;

static const struct {
	const char *name;
	void (*fn)(void);
} groups[] = {
#define T_GROUP(name) { #name, test_##name },
#include "groups.h"
#undef T_GROUP
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* "sync-delta" and "sync_delta" both name test_sync_delta. */
static int same_name(const char *arg, const char *name)
{
	for (; *arg && *name; arg++, name++)
		if (*arg != *name && !(*arg == '-' && *name == '_'))
			return 0;
	return *arg == '\0' && *name == '\0';
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (size_t i = 0; i < NGROUPS; i++)
			printf("%s\n", groups[i].name);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		size_t i = 0;
		while (i < NGROUPS && !same_name(argv[a], groups[i].name))
			i++;
		if (i == NGROUPS) {
			fprintf(stderr, "unit: no group '%s' (unit -l lists them)\n", argv[a]);
			return 2;
		}
	}
	for (size_t i = 0; i < NGROUPS; i++) {
		int want = argc == 1;
		for (int a = 1; a < argc && !want; a++)
			want = same_name(argv[a], groups[i].name);
		if (want)
			groups[i].fn();
	}
	printf("unit: %d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}
