#!/usr/bin/env bats
# ferry status and ferry top against the local target: real processes, a
# fake libnvidia-ml.so.1 and nvidia-smi built here, top in a real terminal
# (tmux).

load helpers
load mon-lib

setup_file() {
	export NV="$BATS_FILE_TMPDIR/nv"
	build_fake_nvml "$NV"
}

setup() {
	common_setup
	"$FERRY" init --local "$T/remote" >/dev/null
	export XDG_STATE_HOME="$T/state" MON_STATE="$T/state" MON_CONF="$T/nvml.conf" FAKE_NVML_CONF="$T/nvml.conf"
	: >"$MON_CONF"
}
teardown() {
	stop_jobs
	[ -n "${TMUX_S:-}" ] && tmux -L "$TMUX_S" kill-server 2>/dev/null
	common_teardown
}

@test "status: two GPUs, a job's process on GPU 1 attributed to the job and the user" {
	export LD_LIBRARY_PATH="$NV/lib"
	check_status_gpu_job
}

@test "status: no NVML, no nvidia-smi: no GPUs, cleanly" {
	check_status_no_nvml
}

@test "status: NVML init fails and there is no nvidia-smi: a clear note" {
	export LD_LIBRARY_PATH="$NV/lib"
	check_status_nvml_init_fails
}

@test "status: NVML init fails, nvidia-smi takes over" {
	export LD_LIBRARY_PATH="$NV/lib" PATH="$NV/bin:$PATH"
	echo "init 18" >"$MON_CONF"
	start_job jsmi
	export FAKE_SMI_APPS="GPU-smi-0, $JOB_SID, 512"
	run "$FERRY" status --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpu_source'] == 'nvidia-smi' and len(j['gpus']) == 1" \
		"j['gpus'][0]['name'] == 'NVIDIA Test, Card' and j['gpus'][0]['temp_c'] is None and j['gpus'][0]['power_mw'] == 75500" \
		"j['gpus'][0]['processes'][0]['job'] == 'jsmi' and j['gpus'][0]['processes'][0]['gpu_mem'] == 512<<20" \
		"'driver/library version mismatch (code 18); using nvidia-smi' in j['gpu_note']"
}

@test "status: nvidia-smi failing with exit 9 is no GPUs with its reason" {
	export PATH="$NV/bin:$PATH" FAKE_SMI_EXIT=9
	run "$FERRY" status --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpus'] == [] and j['gpu_note'].startswith('nvidia-smi: driver not loaded (exit 9): NVIDIA-SMI has failed')"
}

@test "status: sync state follows the project (differs, up to date, conflict)" {
	echo one >a.txt
	run "$FERRY" status --json
	json_check "$output" "j['sync']['state'] == 'differ' and j['sync']['send'] == 1"
	"$FERRY" push -q
	run "$FERRY" status
	[[ "$output" == *"sync      up to date"* ]]
	echo changed-there >"$T/remote/a.txt"
	echo changed-here >a.txt
	run "$FERRY" status --json
	json_check "$output" "j['sync']['state'] == 'conflicts' and j['sync']['conflicts'] == 1"
	run "$FERRY" status
	echo "$output"
	[[ "$output" == *"sync      1 conflict, "* ]]
	# one file, one verb
	"$FERRY" push -q --force
	echo again >a.txt
	run "$FERRY" status
	[[ "$output" == *"sync      1 file differs (1 to send, 0 to delete)"* ]]
}

@test "status: a job folder with odd files is listed, nothing is attributed to it" {
	mkdir -p "$MON_STATE/ferry/jobs/odd" "$MON_STATE/ferry/jobs/bad name"
	printf '0\n' >"$MON_STATE/ferry/jobs/odd/sid"
	printf 'running\n' >"$MON_STATE/ferry/jobs/odd/state"
	run "$FERRY" status --json
	[ "$status" -eq 0 ]
	json_check "$output" "[(x['id'], x['sid'], x['procs']) for x in j['jobs']] == [('odd', 0, 0)]"
}

# top_start COLS ROWS: ferry top in a detached tmux with its own server.
top_start() {
	TMUX_S="ft$$"
	tmux -L "$TMUX_S" -f /dev/null new-session -d -s top -x "$1" -y "$2" \
		"env LANG=C.UTF-8 TERM=xterm-256color '$FERRY' top -d 0.3; echo \"rc=\$?\" >'$T/top.rc'; sleep 30"
	wait_screen "q quit"
}

screen() { tmux -L "$TMUX_S" capture-pane -p -t top; }

wait_screen() {
	local i
	for i in $(seq 1 100); do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	screen
	return 1
}

@test "top: renders in a real terminal, resizes, sorts and quits" {
	export LD_LIBRARY_PATH="$NV/lib"
	start_job jtop
	printf 'proc 0 %s 100\n' "$JOB_SID" >"$MON_CONF"
	top_start 120 40
	wait_screen "GPU1  Fake GPU 1"
	wait_screen "jtop"
	screen | grep -q "^USER .*CPU .*MEM .*GPUMEM"
	screen | grep -q "PID USER .*JOB .*(sort: cpu)"
	# By GPU memory the job's process (100 MiB on the fake GPU) comes
	# first, however busy the machine is.
	tmux -L "$TMUX_S" send-keys -t top g
	wait_screen "(sort: gpu"
	for i in $(seq 1 30); do
		screen | grep -qE "^ *$JOB_SID +$(id -un) +jtop" && break
		sleep 0.1
	done
	screen | grep -qE "^ *$JOB_SID +$(id -un) +jtop"
	# History sparklines after a few samples.
	sleep 1.2
	screen | grep -E "^GPU1 .*[▁▂▃▄▅▆▇█]{3}"
	tmux -L "$TMUX_S" send-keys -t top m
	wait_screen "(sort: mem)"
	tmux -L "$TMUX_S" resize-window -t top -x 70 -y 18
	# Widest line in characters (the sparklines are 3-byte UTF-8, which
	# awk would count as bytes), once the redraw has come.
	widest() { screen | python3 -c 'import sys; print(max((len(l) for l in sys.stdin.buffer.read().decode("utf-8", "replace").splitlines()), default=0))'; }
	for i in $(seq 1 30); do
		[ "$(widest)" -le 70 ] && [ "$(screen | wc -l)" -le 18 ] && break
		sleep 0.1
	done
	screen | grep -q "q quit"
	[ "$(widest)" -le 70 ]
	[ "$(screen | wc -l)" -le 18 ]
	tmux -L "$TMUX_S" send-keys -t top q
	for i in $(seq 1 50); do [ -s "$T/top.rc" ] && break; sleep 0.1; done
	[ "$(cat "$T/top.rc")" = "rc=0" ]
}

@test "top: k stops one of your jobs after a confirmation" {
	start_job jkill
	local sid=$JOB_SID
	top_start 120 40
	wait_screen "jkill"
	tmux -L "$TMUX_S" send-keys -t top k
	wait_screen "stop which job? jkill"
	tmux -L "$TMUX_S" send-keys -t top Enter
	wait_screen "send SIGTERM to job jkill"
	tmux -L "$TMUX_S" send-keys -t top n
	wait_screen "not stopped"
	kill -0 "$sid"
	tmux -L "$TMUX_S" send-keys -t top k
	wait_screen "stop which job? jkill"
	tmux -L "$TMUX_S" send-keys -t top Enter
	wait_screen "send SIGTERM to job jkill"
	tmux -L "$TMUX_S" send-keys -t top y
	# The count is of the processes still there after the session's
	# group got the signal first (kill_job): 1 or 2 depending on how fast
	# the sleep dies.  That they all end is checked below.
	wait_screen "sent Terminated to job 'jkill' ("
	for i in $(seq 1 50); do kill -0 "$sid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$sid" 2>/dev/null
	tmux -L "$TMUX_S" send-keys -t top q
}

@test "top: k with no running job says so; top refuses a non-terminal" {
	top_start 100 30
	tmux -L "$TMUX_S" send-keys -t top k
	wait_screen "you have no running ferry jobs"
	tmux -L "$TMUX_S" send-keys -t top q
	run "$FERRY" top </dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"needs a terminal"* ]]
	run "$FERRY" top -d 0
	[ "$status" -eq 64 ]
}

@test "top: k stops a lost job whose processes outlived their supervisor" {
	# A real job (the state file alone would not be lost): its supervisor
	# killed, its processes (which ignore the hangup that follows) run on.
	local job pid sup p pids=""
	job=$("$FERRY" run --shell 'trap "" HUP; sleep 300 & sleep 300')
	[[ "$job" =~ ^[0-9]+$ ]]
	rec() { "$FERRY" jobs show --json "$job" | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
	pid=$(rec pid)
	sup=$(rec supervisor_pid)
	JOBS_STARTED="${JOBS_STARTED:-} $pid"
	for i in $(seq 1 100); do [ "$(pgrep -s "$pid" | wc -l)" -ge 3 ] && break; sleep 0.05; done
	pids=$(pgrep -s "$pid")
	kill -9 "$sup"
	for i in $(seq 1 100); do [ "$(rec state)" = lost ] && break; sleep 0.1; done
	[ "$(rec state)" = lost ]
	top_start 120 40
	wait_screen "lost"
	tmux -L "$TMUX_S" send-keys -t top k
	wait_screen "stop which job? $job"
	tmux -L "$TMUX_S" send-keys -t top Enter
	wait_screen "send SIGTERM to job $job"
	tmux -L "$TMUX_S" send-keys -t top y
	wait_screen "sent Terminated to job $job"
	# all of them end (zombies until someone reaps them: not running)
	for p in $pids; do
		for i in $(seq 1 50); do
			st=$(ps -o stat= -p "$p") || break
			[[ "$st" == Z* ]] && break
			sleep 0.1
		done
		st=$(ps -o stat= -p "$p") || st=gone
		[ "$st" = gone ] || [[ "$st" == Z* ]]
	done
	for i in $(seq 1 50); do [ "$(rec state)" = killed ] && break; sleep 0.1; done
	[ "$(rec state)" = killed ]
	tmux -L "$TMUX_S" send-keys -t top q
}
