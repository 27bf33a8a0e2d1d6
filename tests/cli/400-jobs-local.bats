#!/usr/bin/env bats
# Jobs against the local target.

load helpers
load push-lib
load jobs-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() {
	lost_teardown
	jobs_teardown
	common_teardown
}

@test "jobs: run, logs -f, wait and run -f pass the exit status; env, names, a missing command" { check_jobs_basic; }
@test "jobs: a running job keeps its code snapshot; data and results are live; rm and prune" { check_jobs_snapshot; }
@test "jobs: kill stops the whole tree, children that ignore TERM included" { check_jobs_kill_tree; }
@test "jobs: a job whose supervisor was killed shows as lost" { check_jobs_lost; }
@test "jobs: binary output and a 10 MB line come back exactly; --tail" { check_jobs_output; }
@test "jobs: 50 jobs at once" { check_jobs_many; }
@test "jobs: --max-mem and the host memory guard stop a job, with the reason" { check_jobs_memory_guard; }
@test "jobs: ferry status attributes a running job's processes, then shows its exit status" { check_jobs_in_status; }
@test "jobs: attach through a real terminal: input, resize, detach, re-attach, exit status" { check_jobs_attach; }

@test "jobs: a failed push starts no job" {
	"$FERRY" push >/dev/null
	echo theirs >"$R/a.txt"
	echo mine >a.txt
	run "$FERRY" run -- true
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job started"* ]]
	run "$FERRY" jobs
	[[ "$output" == "no jobs"* ]]
}

@test "jobs: usage errors" {
	run "$FERRY" run
	[ "$status" -eq 64 ]
	run "$FERRY" kill -s BOGUS 1
	[ "$status" -eq 64 ]
	run "$FERRY" jobs frob
	[ "$status" -eq 64 ]
	run "$FERRY" jobs prune --older-than 3x
	[ "$status" -eq 64 ]
	run "$FERRY" wait
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job of this project"* ]]
	run "$FERRY" attach 1 </dev/null
	[ "$status" -eq 64 ]
}

@test "jobs: show and rm with a bad id or name: one line and exit 1 or 64, never an abort" {
	for sub in show rm; do
		for bad in abc 999 '' $'a\nb'; do
			run --separate-stderr "$FERRY" jobs "$sub" "$bad"
			echo "jobs $sub '$bad': $status: $stderr"
			[ "$status" -eq 1 ] || [ "$status" -eq 64 ]
			[[ "$stderr" != *BUG* ]]
			[[ "$stderr" == *"ferry: "* ]]
		done
		run "$FERRY" jobs "$sub" ''
		[ "$status" -eq 64 ]
		[[ "$output" == *"'' is not a job id or name"* ]]
		[[ "$output" == *"usage: ferry jobs"* ]]
		run "$FERRY" jobs "$sub" abc
		[ "$status" -eq 1 ]
		[[ "$output" == *"no job named 'abc'"* ]]
	done
}

@test "jobs: with HOME unset, the monitor finds the jobs where the supervisor put them" {
	# Both fall back to the password database's home: the agent
	# inherits this environment on the local target.
	home=$(getent passwd "$(id -u)" | cut -d: -f6)
	[ -n "$home" ] && [ -w "$home" ] || skip "no writable home in the password database"
	JOB=$(env -u HOME "$FERRY" run --no-push -- sleep 30)
	[[ "$JOB" =~ ^[0-9]+$ ]]
	run env -u HOME "$FERRY" status --json
	env -u HOME "$FERRY" kill -s KILL "$JOB" >/dev/null
	[ -f "$home/.local/state/ferry/jobs/$JOB/record" ]
	env -u HOME "$FERRY" jobs rm "$JOB" >/dev/null
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert [j for j in d["jobs"] if j["id"] == sys.argv[1] and j["state"] == "running"], d["jobs"]' "$JOB"
}

@test "jobs: the code version is clean, untracked or dirty as git says, .ferry/ ignored" {
	command -v git >/dev/null || skip "git is not installed"
	git init -q .
	echo 'print("hi")' >main.py
	git add ferry.ini main.py
	git -c user.email=t@t -c user.name=t commit -qm one
	head=$(git rev-parse --short=7 HEAD)
	start_job -- python3 main.py
	[ "$(job_field "$JOB" git_state)" = clean ]
	[ "$(job_field "$JOB" git_dirty)" = False ]
	# ferry's own state folder ignores itself
	[ "$(cat .ferry/.gitignore)" = "*" ]
	[ -z "$(git status --porcelain)" ]
	start_job -- python3 main.py
	[ "$(job_field "$JOB" git_state)" = clean ]
	echo scratch >notes.txt
	start_job -- python3 main.py
	[ "$(job_field "$JOB" git_state)" = untracked ]
	[ "$(job_field "$JOB" git_dirty)" = False ]
	run "$FERRY" jobs
	[[ "$output" == *"git $head+untracked"* ]]
	echo 'print("changed")' >main.py
	start_job -- python3 main.py
	[ "$(job_field "$JOB" git_state)" = dirty ]
	[ "$(job_field "$JOB" git_dirty)" = True ]
	run "$FERRY" jobs show "$JOB"
	[[ "$output" == *"code:      tree "*", git $(git rev-parse HEAD)+dirty"* ]]
	run "$FERRY" jobs
	[[ "$output" == *"git $head+dirty"* ]]
}

@test "jobs: each project sees its own jobs; --all every project's, with its folder" {
	start_job --no-push -n in-a -- true
	a=$JOB
	mkdir "$T/projb"
	cd "$T/projb"
	"$FERRY" init --local "$T/remoteb" >/dev/null
	start_job --no-push -n in-b -- true
	b=$JOB
	"$FERRY" wait "$a" "$b" >/dev/null
	run "$FERRY" jobs
	echo "$output"
	[[ "$output" == *"in-b"* ]]
	[[ "$output" != *"in-a"* ]]
	run "$FERRY" jobs --all
	echo "$output"
	[[ "${lines[0]}" == *"PROJECT"*"COMMAND" ]]
	[[ "$output" == *"in-a"*"/remote "*"true"* ]]
	[[ "$output" == *"in-b"*"/remoteb "*"true"* ]]
	# a name is this project's; an id works whatever its project
	run "$FERRY" logs in-a
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job named 'in-a' in this project"* ]]
	run "$FERRY" jobs show "$a"
	[ "$status" -eq 0 ]
	[[ "$output" == *"project:   $T/remote"* ]]
	cd "$T/proj"
	run "$FERRY" jobs
	[[ "$output" == *"in-a"* ]]
	[[ "$output" != *"in-b"* ]]
	# prune takes this project's jobs only
	run "$FERRY" jobs prune --yes
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed 1 finished job"* ]]
	cd "$T/projb"
	run "$FERRY" jobs show "$b"
	[ "$status" -eq 0 ]
}

@test "jobs: a name or no id stands for a job: the newest of that name, the latest; kill asks" {
	start_job --no-push -n quick --shell 'echo first run'
	first=$JOB
	"$FERRY" wait quick >/dev/null
	start_job --no-push -n quick --shell 'echo second run'
	second=$JOB
	run "$FERRY" wait
	[ "$status" -eq 0 ]
	[[ "$output" == "job $second exited"* ]]
	run "$FERRY" logs quick
	[[ "$output" == "second run"* ]]
	run "$FERRY" logs
	[[ "$output" == "second run"* ]]
	run "$FERRY" logs "$first"
	[[ "$output" == "first run"* ]]
	run "$FERRY" jobs show quick
	[[ "${lines[0]}" == "id:        $second" ]]
	run "$FERRY" logs nope
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job named 'nope'"* ]]
	# two running jobs of one name: kill wants the id
	start_job --no-push -n sleeper -- sleep 30
	s1=$JOB
	start_job --no-push -n sleeper -- sleep 30
	s2=$JOB
	run "$FERRY" kill sleeper
	[ "$status" -eq 1 ]
	[[ "$output" == *"2 running jobs are named 'sleeper' in this project: $s1, $s2; give the id"* ]]
	# no id: a script is refused, a person is asked about the latest running one
	run "$FERRY" kill </dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"name the job to kill"* ]]
	run script -qec "$FERRY kill" /dev/null <<<"n"
	[[ "$output" == *"kill job $s2 (sleeper, running "*")? [y/N]"* ]]
	[[ "$output" == *"nothing killed"* ]]
	[ "$(job_field "$s2" state)" = running ]
	run script -qec "$FERRY kill" /dev/null <<<"y"
	[[ "$output" == *"job $s2 killed"* ]]
	run "$FERRY" kill sleeper
	[ "$status" -eq 0 ]
	[[ "$output" == *"job $s1 killed"* ]]
	run "$FERRY" jobs rm quick
	[[ "$output" == "removed job $second (its record and log; what it wrote stays in "* ]]
	run "$FERRY" run -n 12 -- true
	[ "$status" -eq 64 ]
	# run -f: the job's output alone on stdout, its id on stderr
	out=$("$FERRY" run -f --no-push -- echo hello 2>"$T/err")
	[[ "$out" == hello* ]]
	grep -q "^ferry: job [0-9]* started (ferry logs [0-9]*)" "$T/err"
}

@test "jobs: prune wants an age with its unit, and a yes" {
	start_job --no-push -- true
	"$FERRY" wait "$JOB" >/dev/null
	run "$FERRY" jobs prune --older-than 1 --yes
	[ "$status" -eq 64 ]
	[[ "$output" == *"with its unit"* ]]
	run "$FERRY" jobs prune --older-than 1w --yes
	[ "$status" -eq 0 ]
	[[ "$output" == *"no finished job that old"* ]]
	run "$FERRY" jobs prune </dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"confirm with --yes"* ]]
	run script -qec "$FERRY jobs prune" /dev/null <<<"n"
	[[ "$output" == *"remove 1 finished job of this project with its log? [y/N]"* ]]
	[[ "$output" == *"nothing removed"* ]]
	[ "$(job_field "$JOB" state)" = exited ]
	run script -qec "$FERRY jobs prune --older-than 0s" /dev/null <<<"y"
	[[ "$output" == *"removed 1 finished job"* ]]
	run "$FERRY" jobs show "$JOB"
	[ "$status" -eq 1 ]
}

@test "jobs: a running job's log size; a script that is not executable is 126 everywhere" {
	start_job --no-push --shell 'head -c 5000 /dev/zero | tr "\0" x; echo; sleep 30'
	for i in $(seq 1 50); do [ "$(job_field "$JOB" log_bytes)" -ge 5000 ] && break; sleep 0.1; done
	[ "$(job_field "$JOB" log_bytes)" -ge 5000 ]
	run "$FERRY" jobs show "$JOB"
	[[ "$output" == *"log:       500"[0-9]" bytes"* ]]
	"$FERRY" kill -s KILL "$JOB" >/dev/null
	printf '#!/bin/sh\necho hi\n' >run.sh
	chmod 644 run.sh
	run "$FERRY" run -- ./run.sh
	[ "$status" -eq 126 ]
	run "$FERRY" jobs --json
	[[ "$output" == *'"exit_code":126'* ]]
}

@test "jobs: the table: control characters visible, rows cut to the terminal's width" {
	start_job --no-push -n "two-lines" --shell $'echo a\necho b; sleep 1'
	run "$FERRY" jobs
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == *'echo a\necho b; sleep 1' ]]
	start_job --no-push -- python3 -c 'print("a long command line that goes on and on and on past any narrow terminal")'
	run script -qec "stty cols 60; $FERRY jobs" /dev/null
	echo "$output"
	while IFS= read -r l; do
		l=${l%$'\r'}
		[ "${#l}" -le 60 ]
	done <<<"$output"
	[[ "$output" == *"..."* ]]
	# narrow: the least needed columns go, COMMAND stays
	[[ "$output" == *"EXIT  COMMAND"* ]]
	[[ "$output" == *"python3 -c"* ]]
	# piped, rows are whole
	run "$FERRY" jobs
	[[ "$output" == *"past any narrow terminal"* ]]
}

@test "jobs: ferry status names a job and shows a process's command line" {
	start_job --no-push -n spinner -- python3 -c 'x = bytearray(300 << 20)
while True: pass' spin-marker
	sleep 2
	"$FERRY" status --json >"$T/st.json"
	run "$FERRY" status
	"$FERRY" kill -s KILL "$JOB" >/dev/null
	echo "$output"
	[[ "$output" == *"$JOB (spinner)"*"running"* ]]
	python3 - "$T/st.json" "$JOB" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
job = [j for j in d["jobs"] if j["id"] == sys.argv[2]][0]
assert job["name"] == "spinner", job
mine = [p for p in d["processes"] if p.get("job") == sys.argv[2]]
assert mine and mine[0]["cmdline"].startswith("python3 -c x = bytearray") and mine[0]["cmdline"].endswith(" spin-marker"), mine
PY
}
