#!/usr/bin/env bats
# The terminal is the user's (issue 24 row 4): a file name, a job's name
# or argv with escape sequences, BEL, CR or a newline is shown visibly on
# every human-readable line; -z and --json keep the exact bytes.

load helpers
load jobs-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() {
	jobs_teardown
	common_teardown
}

@test "terminal: file names with escapes, BEL, CR and newline in ls-files, push, conflicts, pull" {
	mkdir -p src
	echo a >src/$'\e]0;pwned\a.py'
	echo b >src/$'two\nlines.txt'
	echo c >src/'back\slash'
	echo d >src/日本.txt
	run "$FERRY" ls-files
	no_raw_controls
	[[ "$output" == *'src/\e]0;pwned\a.py'* ]]
	[[ "$output" == *'src/two\nlines.txt'* ]]
	[[ "$output" == *'src/back\\slash'* ]]
	[[ "$output" == *'src/日本.txt'* ]]
	# -z is for programs: the exact bytes
	"$FERRY" ls-files -z | grep -qaF $'src/two\nlines.txt'
	"$FERRY" ls-files -z | grep -qaF $'src/\e]0;pwned\a.py'

	run "$FERRY" push -n
	no_raw_controls
	[[ "$output" == *'send    src/\e]0;pwned\a.py (2 bytes)'* ]]
	[[ "$output" == *'send    src/two\nlines.txt (2 bytes)'* ]]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	no_raw_controls
	[ "$(cat "$R/src/"$'two\nlines.txt')" = b ]
	[ "$(cat "$R/src/"$'\e]0;pwned\a.py')" = a ]

	# a conflict names the file visibly
	echo theirs >"$R/src/"$'two\nlines.txt'
	echo mine >src/$'two\nlines.txt'
	run "$FERRY" push
	[ "$status" -eq 1 ]
	no_raw_controls
	[[ "$output" == *'conflict: src/two\nlines.txt: '* ]]

	# a deletion in a dry run
	rm src/$'\e]0;pwned\a.py'
	run "$FERRY" push -n
	no_raw_controls
	[[ "$output" == *'delete  src/\e]0;pwned\a.py'* ]]

	# what the server has in results, received
	mkdir -p "$R/results"
	echo r >"$R/results/"$'\e[2Jr\r.txt'
	run "$FERRY" pull -n
	no_raw_controls
	[[ "$output" == *'receive results/\e[2Jr\r.txt (2 bytes)'* ]]
	run "$FERRY" status
	no_raw_controls
	# --json keeps the exact name, JSON-escaped
	run "$FERRY" push -n --json
	[[ "$output" != *$'\e'* ]]
}

@test "terminal: a job's name and argv with escapes in jobs, jobs show, status, kill" {
	start_job --no-push -n $'evil\e]0;t\a' -- sh -c 'sleep 60' $'arg\nwith\e[2Jesc\r'
	run "$FERRY" jobs
	no_raw_controls
	[[ "$output" == *'evil\e]0;t\a'* ]]
	[[ "$output" == *'arg\nwith\e[2Jesc\r'* ]]
	run "$FERRY" jobs show "$JOB"
	no_raw_controls
	[[ "$output" == *'name:      evil\e]0;t\a'* ]]
	[[ "$output" == *'command:   '*'arg\nwith\e[2Jesc\r'* ]]
	run "$FERRY" status
	no_raw_controls
	[[ "$output" == *"$JOB"' (evil\e]0;t\a)'* ]]
	# --json: the exact bytes, JSON-escaped
	[ "$(job_field "$JOB" name)" = $'evil\e]0;t\a' ]
	run "$FERRY" jobs --json
	[[ "$output" == *'\u001b]0;t\u0007'* ]]
	run "$FERRY" kill "$JOB"
	no_raw_controls
	run "$FERRY" jobs rm "$JOB"
	no_raw_controls
}
