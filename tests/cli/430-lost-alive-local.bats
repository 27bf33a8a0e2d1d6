#!/usr/bin/env bats
# Jobs whose supervisor is gone but whose processes are not (issue 24,
# row 8), and a supervisor that exited without being reaped (row 10),
# against the local target.

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
	[ -n "${REAPER:-}" ] && kill -9 "$REAPER" 2>/dev/null
	jobs_teardown
	common_teardown
}

@test "lost: processes that outlive their supervisor are shown, and ferry kill stops them all" {
	check_jobs_lost_alive
}

@test "lost: children that ignore TERM get KILL after the grace period" {
	start_job --shell 'trap "" HUP TERM; (trap "" HUP TERM; sleep 300) & sleep 300'
	JOB_PID=$(job_field "$JOB" pid)
	LOST_SIDS="$JOB_PID"
	for i in $(seq 1 100); do [ "$(job_pids "$JOB_PID" | wc -l)" -ge 3 ] && break; sleep 0.05; done
	pids=$(job_pids "$JOB_PID")
	kill -9 "$(job_field "$JOB" supervisor_pid)"
	wait_state "$JOB" lost
	start=$(date +%s%N)
	run "$FERRY" kill --grace 1s "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"job $JOB killed"* ]]
	# not before the grace period: TERM was ignored
	[ $(( ($(date +%s%N) - start) / 1000000 )) -ge 900 ]
	for p in $pids; do ! runs "$p"; done
	[ "$(job_field "$JOB" state)" = killed ]
}

@test "lost: a job with no process left says so, and kill has nothing to stop" {
	# without an ignored HUP the job ends with its terminal
	start_job -- sleep 300
	pid=$(job_field "$JOB" pid)
	LOST_SIDS="$pid"
	kill -9 "$(job_field "$JOB" supervisor_pid)"
	wait_state "$JOB" lost
	for i in $(seq 1 100); do runs "$pid" || break; sleep 0.05; done
	run "$FERRY" jobs
	echo "$output"
	[[ "$output" == *"job $JOB is lost (no processes left)"* ]]
	[ "$(job_field "$JOB" processes_left)" = 0 ]
	run "$FERRY" kill "$JOB"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"job $JOB is lost"*"none of its processes is left"* ]]
	[ "$(job_field "$JOB" state)" = lost ]
}

@test "lost: a supervisor that exited but was not reaped (a zombie) is not alive" {
	# A parent that takes orphans (a child subreaper, as a container's
	# init or a batch system's shepherd is) and never reaps them: the
	# supervisor, double-forked away from the agent, becomes its child,
	# and once killed stays a zombie with its pid and start time.
	cat >"$T/reaper.py" <<'PY'
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
out = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, text=True).stdout
open(sys.argv[1] + ".tmp", "w").write(out)
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
PY
	python3 "$T/reaper.py" "$T/job.id" "$FERRY" run --shell 'trap "" HUP; sleep 300 & sleep 300' 3>&- &
	REAPER=$!
	for i in $(seq 1 100); do [ -s "$T/job.id" ] && break; sleep 0.05; done
	JOB=$(cat "$T/job.id")
	[[ "$JOB" =~ ^[0-9]+$ ]]
	sup=$(job_field "$JOB" supervisor_pid)
	JOB_PID=$(job_field "$JOB" pid)
	LOST_SIDS="$JOB_PID"
	[ "$(ps -o ppid= -p "$sup" | tr -d ' ')" = "$REAPER" ]
	for i in $(seq 1 100); do [ "$(job_pids "$JOB_PID" | wc -l)" -ge 3 ] && break; sleep 0.05; done
	pids=$(job_pids "$JOB_PID")
	kill -9 "$sup"
	for i in $(seq 1 100); do [[ "$(ps -o stat= -p "$sup")" == Z* ]] && break; sleep 0.05; done
	[[ "$(ps -o stat= -p "$sup")" == Z* ]]
	# the zombie is there, kill -0 reaches it: still it is not alive
	kill -0 "$sup"
	wait_state "$JOB" lost 30
	[ "$(job_field "$JOB" processes_left)" -ge 3 ]
	run "$FERRY" kill "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"job $JOB killed"* ]]
	# its processes, orphans of the same parent, are zombies now too:
	# not running, and not counted
	for p in $pids; do ! runs "$p"; done
	[ "$(job_field "$JOB" state)" = killed ]
}
