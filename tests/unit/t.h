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

void test_buf(void);
void test_proto(void);
void test_path(void);
void test_config(void);
void test_util(void);
void test_loginenv(void);
void test_ignore(void);
void test_index(void);
void test_apply(void);
void test_job(void);
void test_delta(void);
void test_mon(void);
void test_snap(void);

#endif
