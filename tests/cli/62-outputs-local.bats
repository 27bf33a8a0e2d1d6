#!/usr/bin/env bats
# A job's outputs are never lost, against the local target.

load helpers
load push-lib
load jobs-lib
load outputs-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() {
	jobs_teardown
	common_teardown
}

@test "outputs: what a job writes is in the live project while it runs, and jobs rm keeps it" { check_job_outputs; }
@test "outputs: two jobs of the same code at once" { check_job_outputs_shared; }
@test "outputs: what cannot move stays in the snapshot, said; rm keeps it" { check_job_outputs_kept; }
@test "outputs: rotation over an older file, a link to a live file, .ferry, a replaced pushed file, two codes" { check_job_outputs_hard_cases; }
