/*
 * t.h - the unit test harness: CHECK() records, the runner prints
 * "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef FERRY_T_H
#define FERRY_T_H

#include <stdio.h>
#include <string.h>

extern int t_passed, t_failed;
extern const char *t_case;

/* One group per tests/unit/test-NAME.c (groups.h, written by the Makefile). */
#define T_GROUP(name) void test_##name(void);
#include "groups.h"
#undef T_GROUP

#define CHECK(cond) do { \
	if (cond) { t_passed++; } else { t_failed++; \
		fprintf(stderr, "FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, t_case ? t_case : "", #cond); } \
} while (0)
#define CHECK_STR(a, b) do { \
	const char *t_a = (a), *t_b = (b); \
	if (t_a && t_b && strcmp(t_a, t_b) == 0) { t_passed++; } else { t_failed++; \
		fprintf(stderr, "FAIL %s:%d [%s]: '%s' != '%s'\n", __FILE__, __LINE__, t_case ? t_case : "", \
			t_a ? t_a : "(null)", t_b ? t_b : "(null)"); } \
} while (0)


#endif
