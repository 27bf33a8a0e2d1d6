#!/usr/bin/env bats
# ferry status and ferry top over a real sshd on 127.0.0.1, with the fake
# libnvidia-ml.so.1 in the agent's environment (SetEnv in the private
# sshd_config).

load helpers
load mon-lib

setup_file() {
	export NV="$BATS_FILE_TMPDIR/nv"
	build_fake_nvml "$NV"
	export MON_STATE="$BATS_FILE_TMPDIR/state" MON_CONF="$BATS_FILE_TMPDIR/nvml.conf"
	export SSHD_SETENV="LD_LIBRARY_PATH=$NV/lib XDG_STATE_HOME=$MON_STATE FAKE_NVML_CONF=$MON_CONF"
	sshd_setup_file
}
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
	rm -rf "$MON_STATE/ferry/jobs"
	: >"$MON_CONF"
}
teardown() {
	stop_jobs
	[ -n "${TMUX_S:-}" ] && tmux -L "$TMUX_S" kill-server 2>/dev/null
	common_teardown
}

@test "status over ssh: the job, the user and the GPU memory are attributed" {
	check_status_gpu_job
}

@test "status over ssh: NVML init failing gives a clear note" {
	check_status_nvml_init_fails
}

@test "top over ssh: renders, resizes and quits" {
	start_job jssh
	printf 'proc 1 %s 300\n' "$JOB_SID" >"$MON_CONF"
	TMUX_S="fs$$"
	tmux -L "$TMUX_S" -f /dev/null new-session -d -s top -x 110 -y 35 \
		"env LANG=C.UTF-8 TERM=xterm-256color '$FERRY' top; echo \"rc=\$?\" >'$T/top.rc'; sleep 30"
	local i
	for i in $(seq 1 100); do
		tmux -L "$TMUX_S" capture-pane -p -t top | grep -q "jssh" && break
		sleep 0.1
	done
	tmux -L "$TMUX_S" capture-pane -p -t top | grep -q "GPU1  Fake GPU 1"
	tmux -L "$TMUX_S" send-keys -t top g
	sleep 0.5
	tmux -L "$TMUX_S" capture-pane -p -t top | grep -qE "^ *$JOB_SID +$(id -un) +jssh .*300M"
	tmux -L "$TMUX_S" resize-window -t top -x 60 -y 15
	sleep 0.5
	tmux -L "$TMUX_S" capture-pane -p -t top | grep -q "q quit"
	tmux -L "$TMUX_S" send-keys -t top q
	for i in $(seq 1 50); do [ -s "$T/top.rc" ] && break; sleep 0.1; done
	[ "$(cat "$T/top.rc")" = "rc=0" ]
}
