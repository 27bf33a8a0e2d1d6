/*
 * main.c - runs every unit test group and prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "t.h"

int t_passed, t_failed;
const char *t_case;

int main(void)
{
	test_buf();
	test_proto();
	test_path();
	test_config();
	test_util();
	test_loginenv();
	test_ignore();
	test_index();
	test_apply();
	test_job();
	test_delta();
	test_mon();
	test_snap();
	printf("unit: %d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}
