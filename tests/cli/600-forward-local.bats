#!/usr/bin/env bats
# ferry forward against the local target: the same agent code, no ssh.

load helpers
load jobs-lib
load fwd-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
	fwd_setup
}
teardown() {
	fwd_teardown
	common_teardown
}

@test "forward: a job's http.server is forwarded automatically, byte for byte; Ctrl-C exits 0" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	cat "$T/fwd.err"
	[ "$l" != "$P" ]
	grep -q "($P is taken here)" "$T/fwd.err"
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	wait_line "$T/fwd.err" "^ferry: http://127\.0\.0\.1:$l/" 5
	# A job started later is seen too.
	Q=$(free_port_pair)
	http_job "$Q"
	l2=$(job_local_port "$T/fwd.err" "$JOB" "$Q" 5)
	fetch_same "http://127.0.0.1:$l2/blob.bin" "$T/www/blob.bin"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
}

@test "forward: LOCAL:PORT; a port nobody listens on gives one line and the other spec goes on" {
	make_www
	P=$(free_port_pair)
	"$SYSPY" -m http.server "$P" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
	bg_track $!
	wait_listen "$P"
	L=$(free_port_pair)
	D=$(free_port_pair)
	LD=$(free_port_pair)
	fwd_start fwd forward "$L:$P" "$LD:$D"
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$L -> " 10
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$LD -> " 10
	fetch_same "http://127.0.0.1:$L/blob.bin" "$T/www/blob.bin"
	run curl -sS --max-time 5 "http://127.0.0.1:$LD/"
	[ "$status" -ne 0 ]
	wait_line "$T/fwd.err" "^ferry: 127\.0\.0\.1:$LD -> localhost:$D: connection refused on the server$" 5
	cat "$T/fwd.err"
	[ "$(grep -c "connection refused" "$T/fwd.err")" -eq 1 ]
	fetch_same "http://127.0.0.1:$L/blob.bin" "$T/www/blob.bin"
	# Taken here: the next port, said.
	H=$(free_port_pair)
	hold_port "$H"
	fwd_start fwd2 forward "$H:$P"
	wait_line "$T/fwd2.err" "^ferry: forwarding 127\.0\.0\.1:$((H + 1)) -> server's localhost:$P \($H is taken here\)$" 10
	fetch_same "http://127.0.0.1:$((H + 1))/blob.bin" "$T/www/blob.bin"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
}

@test "forward: 100 connections at once, every byte back" {
	P=$(free_port_pair)
	serve_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	run timeout 60 "$SYSPY" "$LOAD" conc 127.0.0.1 "$l" 100 200000
	echo "$output"
	[ "$status" -eq 0 ]
}
