# jobs-lib.bash - job behaviours checked on every target.  The caller's
# project points at the target; $R is the server-side project folder.

# Runs a job and sets JOB to its id.
start_job() {
	JOB=$("$FERRY" run "$@")
	[[ "$JOB" =~ ^[0-9]+$ ]]
}

job_field() {	# job_field ID KEY: a field of the job's JSON record
	"$FERRY" jobs show --json "$1" | python3 -c "import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print('null' if v is None else v)" "$2"
}

wait_state() {	# wait_state ID STATE [tries of 0.1 s]
	local i
	for i in $(seq 1 "${3:-100}"); do
		[ "$(job_field "$1" state)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "job $1 is $(job_field "$1" state), not $2"
	return 1
}

# Every supervisor and agent left by a test goes with it.
jobs_teardown() {
	kill_test_agents 9
	pkill -9 -f "$T/" 2>/dev/null || true	# the jobs' own processes
}

check_jobs_basic() {
	mkdir -p src
	echo 'import os, sys; print("hello", os.environ.get("FERRY_JOB_ID"), os.environ.get("X")); sys.exit(int(sys.argv[1]))' >src/main.py
	start_job -n first -e X=42 -- python3 src/main.py 0
	run "$FERRY" logs -f "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"hello $JOB 42"* ]]
	[ "$(job_field "$JOB" state)" = exited ]
	[ "$(job_field "$JOB" name)" = first ]
	[ "$(job_field "$JOB" exit_code)" = 0 ]
	# the exit status comes back through run -f, logs -f and wait
	run "$FERRY" run -f -- python3 src/main.py 3
	[ "$status" -eq 3 ]
	[[ "$output" == *"hello"* ]]
	run "$FERRY" run --no-push --shell 'echo from a shell; exit 5'
	j=${lines[0]}
	run "$FERRY" wait "$j"
	[ "$status" -eq 5 ]
	[[ "$output" == *"job $j failed (exit 5)"* ]]
	run "$FERRY" logs "$j"
	[[ "$output" == *"from a shell"* ]]
	# a command that does not exist
	run -127 "$FERRY" run -- no-such-command-xyz
	echo "$output"
	[ "$status" -eq 127 ]
	[[ "$output" == *"cannot run 'no-such-command-xyz'"* ]]
	# listing
	run "$FERRY" jobs
	[ "$status" -eq 0 ]
	[[ "$output" == *"first"*"exited"* ]]
	run "$FERRY" jobs --json
	echo "$output" | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'
	run "$FERRY" logs 99999
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job 99999"* ]]
	run "$FERRY" logs abc
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job named 'abc' in this project"* ]]
}

check_jobs_snapshot() {
	mkdir -p src data
	echo v1 >src/version.txt
	cat >src/job.py <<'PY'
import os, time
print("code", open("src/version.txt").read().strip(), flush=True)
print("data", open("data/input.txt").read().strip(), flush=True)
while not os.path.exists("results/go"):
    time.sleep(0.05)
print("later", open("src/version.txt").read().strip(), flush=True)
open("results/out.txt", "w").write("made by the job\n")
PY
	printf 'data/\n' >.gitignore
	"$FERRY" push >/dev/null
	mkdir -p "$R/data"
	echo server-data >"$R/data/input.txt"
	start_job -- python3 src/job.py
	old=$JOB
	# a new version of the code while the old job runs
	echo v2 >src/version.txt
	start_job -- python3 src/job.py
	new=$JOB
	touch "$R/results/go"
	"$FERRY" wait "$old" "$new"
	run "$FERRY" logs "$old"
	echo "$output"
	[[ "$output" == *"code v1"* ]]
	[[ "$output" == *"later v1"* ]]
	[[ "$output" == *"data server-data"* ]]
	run "$FERRY" logs "$new"
	[[ "$output" == *"code v2"* ]]
	# results land in the live project, where ferry pull finds them
	[ "$(cat "$R/results/out.txt")" = "made by the job" ]
	"$FERRY" pull >/dev/null
	[ "$(cat results/out.txt)" = "made by the job" ]
	# the two jobs ran different code, recorded
	[ "$(job_field "$old" tree)" != "$(job_field "$new" tree)" ]
	[ "$(job_field "$old" snapshot)" != "" ]
	# --in-place runs in the live folder
	run "$FERRY" run -f --in-place -- sh -c 'pwd'
	[[ "$output" == *"$R"* ]]
	[[ "$output" != *".ferry/snap"* ]]
	# rm and prune: running jobs are refused, unused snapshots go
	start_job -- sleep 30
	run "$FERRY" jobs rm "$JOB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is running"* ]]
	"$FERRY" kill -s KILL "$JOB" >/dev/null
	run "$FERRY" jobs rm "$old"
	[ "$status" -eq 0 ]
	[ -d "$R/.ferry/snap/$(job_field "$new" snapshot)" ]
	run "$FERRY" jobs prune --yes
	[ "$status" -eq 0 ]
	run "$FERRY" jobs
	[[ "$output" == "no jobs"* ]]
	[ -z "$(ls "$R/.ferry/snap")" ]
}

check_jobs_kill_tree() {
	# a job whose children ignore TERM: kill takes the whole tree
	start_job --shell 'trap "" TERM; (trap "" TERM; sleep 300) & echo $! >results/child.pid; sleep 300'
	for i in $(seq 1 50); do [ -s "$R/results/child.pid" ] && break; sleep 0.1; done
	child=$(cat "$R/results/child.pid")
	kill -0 "$child"
	run "$FERRY" kill --grace 1s "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"job $JOB killed"* ]]
	! kill -0 "$child" 2>/dev/null
	[ "$(job_field "$JOB" state)" = killed ]
	[ "$(job_field "$JOB" killed)" = True ]
	run "$FERRY" kill "$JOB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not running"* ]]
}

check_jobs_lost() {
	start_job -- sleep 300
	sup=$(job_field "$JOB" supervisor_pid)
	pid=$(job_field "$JOB" pid)
	kill -9 "$sup"
	wait_state "$JOB" lost
	run "$FERRY" logs -f "$JOB"
	[ "$status" -eq 1 ]
	kill -9 "$pid" 2>/dev/null || true
}

check_jobs_output() {
	# binary junk and one 10 MB line come back byte for byte
	python3 -c 'import os,sys; sys.stdout.buffer.write(bytes(range(256))*64 + b"x"*10000000 + b"\n")' >"$T/expect.bin"
	start_job -- python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1],"rb").read())' "$T/expect.bin"
	"$FERRY" wait "$JOB" >/dev/null
	"$FERRY" logs "$JOB" >"$T/got.bin"
	# the pty turns \n into \r\n; nothing else changes
	python3 - "$T/expect.bin" "$T/got.bin" <<'PY'
import sys
a = open(sys.argv[1], "rb").read().replace(b"\n", b"\r\n")
b = open(sys.argv[2], "rb").read()
assert a == b, (len(a), len(b))
PY
	[ "$(job_field "$JOB" log_bytes)" -ge 10000000 ]
	# --tail N
	run "$FERRY" run -f --shell 'for i in $(seq 1 100); do echo line$i; done'
	run "$FERRY" logs --tail 3 "$((JOB + 1))"
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == line98* ]]
}

check_jobs_many() {
	ids=()
	for i in $(seq 1 50); do
		ids+=("$("$FERRY" run --no-push --shell "sleep 0.5; echo job-$i")")
	done
	run "$FERRY" wait "${ids[@]}"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'exited (exit 0)')" -eq 50 ]
	for i in $(seq 1 50); do
		run "$FERRY" logs "${ids[$((i - 1))]}"
		[[ "$output" == "job-$i"* ]]
	done
}

# Attach through a real terminal: tmux runs `ferry attach`.
check_jobs_attach() {
	command -v tmux >/dev/null || skip "tmux is not installed"
	cat >prompt.py <<'PY'
import signal, shutil, sys
signal.signal(signal.SIGWINCH, lambda *a: print("\r\nsize", shutil.get_terminal_size(), flush=True))
print("ready", flush=True)
while True:
    line = input("> ")
    print("got", line, flush=True)
    if line == "quit":
        sys.exit(7)
PY
	start_job -- python3 prompt.py
	sock="$T/tmux.sock"
	tmux -S "$sock" new-session -d -x 100 -y 30 "cd $PWD && HOME=$HOME XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $FERRY attach $JOB; echo attach-exit=\$?; sleep 30"
	screen() { tmux -S "$sock" capture-pane -p; }
	until_screen() {
		local i
		for i in $(seq 1 100); do screen | grep -q "$1" && return 0; sleep 0.1; done
		screen
		return 1
	}
	until_screen ready
	tmux -S "$sock" send-keys "hello there" Enter
	until_screen "got hello there"
	tmux -S "$sock" resize-window -x 120 -y 40
	until_screen "columns=120, lines=40"
	# Ctrl-] detaches, the job goes on
	tmux -S "$sock" send-keys C-]
	until_screen "detached from job $JOB"
	until_screen "attach-exit=0"
	[ "$(job_field "$JOB" state)" = running ]
	tmux -S "$sock" kill-server
	sock="$T/tmux2.sock"	# a new server: the old one may still be going
	tmux -S "$sock" new-session -d -x 80 -y 24 "cd $PWD && HOME=$HOME XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $FERRY attach $JOB; echo attach-exit=\$?; sleep 30"
	until_screen "got hello there"	# recent output is replayed
	tmux -S "$sock" send-keys "quit" Enter
	until_screen "attach-exit=7"
	tmux -S "$sock" kill-server
	[ "$(job_field "$JOB" state)" = failed ]
}

check_jobs_memory_guard() {
	# --max-mem: a job that grows past its limit is stopped, the reason kept
	cat >grow.py <<'PY'
import time
hog = []
for i in range(200):
    hog.append(bytearray(10 * 1024 * 1024))
    time.sleep(0.05)
print("not stopped", flush=True)
PY
	start_job --max-mem 100M -- python3 grow.py
	wait_state "$JOB" killed 200
	[[ "$(job_field "$JOB" reason)" == "memory limit: its processes used"*"over --max-mem 100 MiB" ]]
	run "$FERRY" logs "$JOB"
	[[ "$output" == *"[ferry: stopping the job: memory limit"* ]]
	[[ "$output" != *"not stopped"* ]]
	run "$FERRY" jobs show "$JOB"
	[[ "$output" == *"state:     killed - memory limit"* ]]
	# the host guard stops the user's largest guarded job, not the others
	start_job --no-push -- sleep 30
	small=$JOB
	printf '[guard]\nmin_available = 1000T\n' >>ferry.ini
	start_job -- python3 grow.py
	wait_state "$JOB" killed 200
	[[ "$(job_field "$JOB" reason)" == "host memory guard:"*"this was your largest job"* ]]
	[ "$(job_field "$small" state)" = running ]
	"$FERRY" kill "$small" >/dev/null
	run "$FERRY" run --max-mem lots -- true
	[ "$status" -eq 64 ]
	printf '[jobs]\nmax_mem = 12Q\n' >>ferry.ini
	run "$FERRY" jobs
	[ "$status" -eq 78 ]
	[[ "$output" == *"is not a size"* ]]
}

# A real job in ferry status: its process attributed to it while it runs,
# its exit status after.
check_jobs_in_status() {
	start_job --no-push -- sh -c 'sleep 3; exit 3'
	sleep 1
	"$FERRY" status --json >"$T/st.json"
	python3 - "$T/st.json" "$JOB" "$(id -un)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
job = [j for j in d["jobs"] if j["id"] == sys.argv[2]][0]
assert job["state"] == "running" and job["procs"] >= 1 and job["mem"] > 0, job
# The top processes list is by CPU; where the job's show, they carry it.
for p in d["processes"]:
    if p.get("job") == sys.argv[2]:
        assert p["user"] == sys.argv[3], p
PY
	"$FERRY" wait "$JOB" >/dev/null || true
	run "$FERRY" status
	[[ "$output" == *"$JOB"*"failed 3"* ]]
}

# ---- lost but alive (issue 24 row 8) ----

# runs PID: the process is there and not a zombie (kill -0 and pgrep
# count zombies, which hold their pid until their parent reaps them).
runs() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [[ "$st" != Z* ]] && [[ "$st" != X* ]]
}

# job_pids PID: the live processes of the session PID (a job's).
job_pids() {
	local p
	for p in $(pgrep -s "$1" 2>/dev/null); do
		runs "$p" && echo "$p"
	done
	return 0
}

# lost_alive_job [run options]: a job of three processes (a shell and two
# sleeps) that outlive their supervisor: killing the supervisor closes the
# job's terminal, and the hangup that follows would end a job that did not
# ignore it.  Sets JOB, JOB_PID, JOB_SUP and LOST_SIDS (for teardown).
lost_alive_job() {
	start_job "$@" --shell 'trap "" HUP; sleep 300 & sleep 300'
	JOB_PID=$(job_field "$JOB" pid)
	JOB_SUP=$(job_field "$JOB" supervisor_pid)
	LOST_SIDS="${LOST_SIDS:-} $JOB_PID"
	local i
	for i in $(seq 1 100); do
		[ "$(job_pids "$JOB_PID" | wc -l)" -ge 3 ] && break
		sleep 0.05
	done
	[ "$(job_pids "$JOB_PID" | wc -l)" -ge 3 ]
}

lost_teardown() {
	local s
	for s in ${LOST_SIDS:-}; do
		pkill -9 -s "$s" 2>/dev/null || true
	done
	LOST_SIDS=
}

check_jobs_lost_alive() {
	lost_alive_job
	pids=$(job_pids "$JOB_PID")
	kill -9 "$JOB_SUP"
	wait_state "$JOB" lost
	# shown lost, with what still runs
	run "$FERRY" jobs
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ "job $JOB is lost ("[0-9]+" processes still running): \`ferry kill $JOB\` stops them" ]]
	run "$FERRY" jobs show "$JOB"
	[[ "$output" =~ "state:     lost ("[0-9]+" processes still running)" ]]
	[ "$(job_field "$JOB" processes_left)" -ge 3 ]
	for p in $pids; do runs "$p"; done
	# ferry kill stops them all: TERM to the group, then KILL
	run "$FERRY" kill "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"job $JOB killed"* ]]
	for p in $pids; do ! runs "$p"; done
	[ -z "$(job_pids "$JOB_PID")" ]
	# the record ends killed, with no exit status made up
	[ "$(job_field "$JOB" state)" = killed ]
	[ "$(job_field "$JOB" killed)" = True ]
	[ "$(job_field "$JOB" exit_code)" = null ]
	[ "$(job_field "$JOB" signal)" = 0 ]
	[[ "$(job_field "$JOB" reason)" == *"supervisor was gone"* ]]
	run "$FERRY" jobs show "$JOB"
	[[ "$output" == *"exit:      -"* ]]
	run "$FERRY" kill "$JOB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not running (killed)"* ]]
}
