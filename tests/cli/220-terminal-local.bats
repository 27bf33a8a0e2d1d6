#!/usr/bin/env bats
# Following a job across a lost link, on the local target: the agent that
# serves the follow is killed (as a dropped ssh would end it); the client
# starts another and goes on at the byte it had printed up to.
# 220-terminal-ssh.bats does the same over a real sshd.

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

# kill_agent_of PID: the local agent that the ferry client PID started.
kill_agent_of() {
	local a
	for a in $(pgrep -P "$1"); do
		kill -9 "$a"
	done
}

@test "follow: logs -f goes on after the agent is lost, byte for byte, --tail too" {
	start_job --shell 'for i in $(seq 1 40); do printf "line %03d %s" $i "$(head -c 200 /dev/zero | tr "\0" y)"; [ $((i % 3)) = 0 ] || echo; sleep 0.05; done; echo end; exit 6'
	"$FERRY" logs -f "$JOB" >"$T/follow.out" 2>"$T/follow.err" &
	follower=$!
	for i in $(seq 1 100); do grep -q "line 005" "$T/follow.out" && break; sleep 0.1; done
	kill_agent_of "$follower"
	sleep 0.5
	kill_agent_of "$follower"
	st=0
	wait "$follower" || st=$?
	cat "$T/follow.err"
	[ "$st" -eq 6 ]
	[ "$(grep -c -x 'ferry: connection lost; reconnecting...' "$T/follow.err")" -ge 1 ]
	grep -qx "ferry: reconnected" "$T/follow.err"
	"$FERRY" logs "$JOB" >"$T/whole.out"
	cmp "$T/follow.out" "$T/whole.out"
	# --tail: the resumed follow starts where the tail had got to
	start_job --shell 'seq 1 5; sleep 1.5; seq 6 9; exit 0'
	"$FERRY" logs -f --tail 2 "$JOB" >"$T/tail.out" 2>"$T/tail.err" &
	follower=$!
	for i in $(seq 1 100); do grep -q "^5" "$T/tail.out" && break; sleep 0.1; done
	kill_agent_of "$follower"
	wait "$follower"
	[ "$(tr -d '\r' <"$T/tail.out" | tr '\n' ' ')" = "4 5 6 7 8 9 " ]
}

@test "follow: run -f goes on after the agent is lost, with the job's status" {
	"$FERRY" run -f --no-push --shell 'echo first; sleep 1.5; echo second; exit 3' >"$T/run.out" 2>"$T/run.err" &
	runner=$!
	for i in $(seq 1 100); do grep -q "^first" "$T/run.out" && break; sleep 0.1; done
	kill_agent_of "$runner"
	st=0
	wait "$runner" || st=$?
	cat "$T/run.err"
	[ "$st" -eq 3 ]
	grep -qx "ferry: reconnected" "$T/run.err"
	[ "$(grep -c '^first' "$T/run.out")" -eq 1 ]
	[ "$(grep -c '^second' "$T/run.out")" -eq 1 ]
}

@test "follow: a line of ours starts at column 0 when output and messages share a file" {
	start_job --shell 'printf "no newline yet"; sleep 1.5; echo " and the rest"'
	"$FERRY" logs -f "$JOB" >"$T/all.out" 2>&1 &
	follower=$!
	for i in $(seq 1 100); do grep -q "no newline yet" "$T/all.out" && break; sleep 0.1; done
	kill_agent_of "$follower"
	wait "$follower"
	cat "$T/all.out"
	grep -qx "no newline yet" "$T/all.out"
	grep -qx "ferry: connection lost; reconnecting..." "$T/all.out"
	grep -q "^ and the rest" "$T/all.out"
}
