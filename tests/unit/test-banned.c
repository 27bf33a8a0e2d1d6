/*
 * test-banned.c - every source file includes banned.h, after the headers
 * of ferry's own (a header included later could bring a banned call
 * back in unnoticed).  Runs from the repository root, as `make unit`
 * does.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

/* 1 when path includes banned.h with no quoted include after it. */
static int banned_last(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int seen = 0, ok = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "#include \"banned.h\"", 19) == 0)
			seen = ok = 1;
		else if (strncmp(line, "#include \"", 10) == 0 && seen)
			ok = 0;
	}
	fclose(f);
	return ok;
}

void test_banned(void)
{
	DIR *d = opendir("src");
	struct dirent *de;
	int files = 0;
	CHECK(d != NULL);
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 3 || strcmp(de->d_name + n - 2, ".c") != 0)
			continue;
		char path[300];
		snprintf(path, sizeof(path), "src/%s", de->d_name);
		t_case = de->d_name;
		CHECK(banned_last(path));
		files++;
	}
	if (d)
		closedir(d);
	t_case = "count";
	CHECK(files > 50);
	t_case = NULL;
}
