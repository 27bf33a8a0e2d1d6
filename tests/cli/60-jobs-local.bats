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
	[ "$status" -eq 64 ]
	run "$FERRY" attach 1 </dev/null
	[ "$status" -eq 64 ]
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
