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

@test "outputs: a prune while a job is starting leaves the snapshots alone" {
	echo 'print(1)' >a.py
	start_job -- true
	"$FERRY" wait "$JOB" >/dev/null
	snap=$(job_field "$JOB" snapshot)
	# a start holds the snapshots' lock shared until its record is written
	flock -s "$R/.ferry/snap/.lock" sh -c "
		\"$FERRY\" jobs prune --yes >/dev/null
		[ -d \"$R/.ferry/snap/$snap\" ]"
	[ -z "$("$FERRY" jobs --json)" ]
	# the next removal in the project takes it
	echo 'print(2)' >a.py
	start_job -- true
	"$FERRY" wait "$JOB" >/dev/null
	"$FERRY" jobs prune --yes >/dev/null
	[ ! -d "$R/.ferry/snap/$snap" ]
}
