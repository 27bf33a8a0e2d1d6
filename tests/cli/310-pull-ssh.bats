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
@test "pull over ssh: only changes travel; local edits are kept" { check_pull_changes_only; }
@test "pull over ssh: a nested pull folder, and a FOLDER below a pull folder" { check_pull_nested; }
@test "pull over ssh: kill -9 mid-pull leaves no partial file" { check_pull_kill; }
@test "pull over ssh: a large file with a few KB changed goes as a delta" { check_pull_delta; }

@test "pull over ssh: over a long round trip the agent's ping is answered, whole and changes-only pulls" {
	long_link 80 4000000
	mkdir -p "$R/results/runs"
	yes 'step 1234 loss 0.0123 accuracy 0.98' | head -c 2000000 >"$R/results/train.log"
	# More entries than the laptop's walk checks for a ping at once.
	for i in $(seq 400); do echo "$i" >"$R/results/runs/$i.txt"; done
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	results_equal
	# Now the laptop lstats its pull index (400 entries) while the agent
	# walks and pings: the ping is answered during that walk or as the
	# manifest is read, and the agent takes its pong (it refuses any
	# other).
	echo more >>"$R/results/train.log"
	echo new >"$R/results/metrics.json"
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["written"] == 2'
	results_equal
}

@test "pull over ssh: compressible data is compressed when the link is slow" {
	slow_link 4000000
	mkdir -p "$R/results"
	# 30 MB of a training log: zstd shrinks it a hundredfold
	yes 'step 1234 loss 0.0123 accuracy 0.98' | head -c 30000000 >"$R/results/train.log"
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["bytes_received"] < 15000000'
	results_equal
}
