#!/usr/bin/env bats
# ferry pull over a real sshd on 127.0.0.1.

load helpers
load pull-lib

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
	R="$T/remote"
}
teardown() { common_teardown; }

@test "pull over ssh: results round-trip, then incremental" { check_pull_roundtrip; }
@test "pull over ssh: conflicts, --dry-run, --force" { check_pull_conflicts; }
@test "pull over ssh: FOLDER arguments, scope, mass-deletion guard" { check_pull_scope_and_guard; }
@test "pull over ssh: kill -9 mid-pull leaves no partial file" { check_pull_kill; }
