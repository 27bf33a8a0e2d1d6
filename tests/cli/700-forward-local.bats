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

@test "forward: a job's http.server is forwarded automatically, byte for byte, one started later too; Ctrl-C exits 0" { check_fwd_auto; }

@test "forward: LOCAL:PORT; a port nobody listens on gives one line and the other spec goes on; a taken port moves on" { check_fwd_specs; }

@test "forward: the lines on stderr are docs/forward.md's, word for word" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	wait_line "$T/fwd.err" "$(url_re "$l")" 5
	D=$(free_port_pair)
	H=$(free_port_pair)
	hold_port "$H"
	fwd_start fwd2 forward "$H:$P" "$((H + 2)):$D"
	wait_line "$T/fwd2.err" "forwarding 127\.0\.0\.1:$((H + 2)) -> " 10
	curl -s --max-time 5 "http://127.0.0.1:$((H + 2))/" || true
	sleep 0.5
	cat "$T/fwd.err" "$T/fwd2.err"
	grep -qx "ferry: job $JOB listens on $P, forwarded to 127\.0\.0\.1:$l ($P is taken here)" "$T/fwd.err"
	grep -qx "ferry: job $JOB: http://127\.0\.0\.1:$l/" "$T/fwd.err"
	grep -qx "ferry: 127\.0\.0\.1:$((H + 2)): connection refused: nothing listens on localhost:$D on the server" "$T/fwd2.err"
	grep -qx "ferry: forwarding 127\.0\.0\.1:$((H + 1)) -> localhost:$P on the server ($H is taken here)" "$T/fwd2.err"
}

@test "forward: 100 connections at once, every byte back" { check_fwd_conc 100 200000; }

# A malicious agent (fake-agent.py fwd-*): one protocol error line and
# exit 76, or (a flood) no crash, bounded output, and Ctrl-C still works;
# never a hang.
fake_fwd() {
	mkdir -p "$T/fake" && cd "$T/fake"
	"$FERRY" init fake-host:~/x >/dev/null
	FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-agent.py $1" fwd_start fake forward
	wait_exit "$FWD_PID" 15
	cat "$T/fake.err"
	[ "$EXIT_RC" -ne -1 ]
	not_in "$T/fake.err" "Sanitizer|runtime error"
}

@test "forward: 300 connections at once: those past 255 wait for a free channel (docs/forward.md)" { check_fwd_conc 300 20000; }

@test "forward: an agent that sends data on a channel nobody opened: protocol error, exit 76" {
	fake_fwd fwd-stray
	[ "$EXIT_RC" -eq 76 ]
	grep -q "broke the protocol" "$T/fake.err"
	[ "$(wc -l <"$T/fake.err")" -le 2 ]
}

@test "forward: an agent that grants a window past 2 MiB: protocol error, exit 76" {
	fake_fwd fwd-window
	[ "$EXIT_RC" -eq 76 ]
	grep -q "broke the protocol" "$T/fake.err"
}

@test "forward: an agent that sends more URLs than FWD_URLS_MAX: protocol error, exit 76" {
	fake_fwd fwd-urls
	[ "$EXIT_RC" -eq 76 ]
	grep -q "broke the protocol" "$T/fake.err"
}

@test "forward: an agent that reports a listening address that is not one: protocol error, exit 76" {
	fake_fwd fwd-addr
	[ "$EXIT_RC" -eq 76 ]
	grep -q "broke the protocol" "$T/fake.err"
}

@test "forward: a URL with escapes, CR and LF from the agent is shown, not obeyed" {
	mkdir -p "$T/fake" && cd "$T/fake"
	"$FERRY" init fake-host:~/x >/dev/null
	P=$(free_port_pair)
	FAKE_FWD_PORT=$P FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-agent.py fwd-escapes" fwd_start fake forward
	sleep 2
	kill -INT "$FWD_PID" 2>/dev/null || true
	wait_exit "$FWD_PID" 10
	output=$(cat "$T/fake.err")
	echo "exit $EXIT_RC"
	echo "$output"
	[ "$EXIT_RC" -ne -1 ]
	no_raw_controls
	not_in "$T/fake.err" "^ferry: all good"
	not_in "$T/fake.err" "Sanitizer|runtime error"
}

@test "forward: an agent that floods FWD_PORT: no crash, bounded output, Ctrl-C exits 0" {
	mkdir -p "$T/fake" && cd "$T/fake"
	"$FERRY" init fake-host:~/x >/dev/null
	P=$(free_port_pair)
	FAKE_FWD_PORT=$P FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-agent.py fwd-flood" fwd_start fake forward
	sleep 3
	kill -0 "$FWD_PID"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID" 10
	echo "exit $EXIT_RC, $(wc -l <"$T/fake.err") lines"
	head -20 "$T/fake.err"
	[ "$EXIT_RC" -eq 0 ]
	[ "$(wc -l <"$T/fake.err")" -lt 100 ]
	not_in "$T/fake.err" "Sanitizer|runtime error"
}

@test "forward: --job forwards that job's ports only; [forward] skip leaves a port out; auto = off" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	a=$JOB
	Q=$(free_port_pair)
	http_job "$Q"
	b=$JOB
	fwd_start fwd forward --job "$b"
	lb=$(job_local_port "$T/fwd.err" "$b" "$Q")
	fetch_same "http://127.0.0.1:$lb/blob.bin" "$T/www/blob.bin"
	sleep 0.5
	not_in "$T/fwd.err" "job $a "
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
	printf '\n[forward]\nskip = %s\n' "$P" >>ferry.ini
	fwd_start fwd2 forward
	job_local_port "$T/fwd2.err" "$b" "$Q" >/dev/null
	sleep 0.5
	cat "$T/fwd2.err"
	not_in "$T/fwd2.err" "listens on $P"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	printf 'auto = off\n' >>ferry.ini
	run "$FERRY" forward
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"auto"* ]]
	# A SPEC still works with auto off.
	L=$(free_port_pair)
	fwd_start fwd3 forward "$L:$P"
	wait_line "$T/fwd3.err" "forwarding 127\.0\.0\.1:$L -> " 10
	fetch_same "http://127.0.0.1:$L/blob.bin" "$T/www/blob.bin"
}

@test "forward: the laptop side listens on loopback only, unless --bind names an address" {
	make_www
	P=$(free_port_pair)
	"$SYSPY" -m http.server "$P" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
	bg_track $!
	wait_listen "$P"
	L=$(free_port_pair)
	fwd_start fwd forward "$L:$P"
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$L -> " 10
	ss -Hltn "sport = :$L" >"$T/ss"
	cat "$T/ss"
	grep -q "127.0.0.1:$L" "$T/ss"
	not_in "$T/ss" "(0\.0\.0\.0|\*|\[::\]):$L "
	B=$(free_port_pair)
	fwd_start fwd2 forward --bind 127.0.0.2 "$B:$P"
	wait_line "$T/fwd2.err" "forwarding 127\.0\.0\.2:$B -> " 10
	fetch_same "http://127.0.0.2:$B/blob.bin" "$T/www/blob.bin"
}

@test "forward: a job's ports coming and going fast: the agent keeps up and never dies" {
	P=$(free_port_pair)
	serve_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	start_job --no-push -- "$SYSPY" -u "$LOAD" churn 4 5 "$T/churn"
	c=$JOB
	run "$FERRY" wait "$c"
	sleep 0.5
	echo "$(grep -c 'listens on' "$T/fwd.err") ports announced"
	grep -v "listens on\|closed port" "$T/fwd.err" | head -40
	not_in "$T/fwd.err" "lost|Sanitizer|runtime error"
	kill -0 "$FWD_PID"
	run timeout 30 "$SYSPY" "$LOAD" conc 127.0.0.1 "$l" 10 10000
	[ "$status" -eq 0 ]
}

@test "forward: [forward] ports are forwarded with the jobs' ports, whoever listens; config shows them" {
	make_www
	P=$(free_port_pair)
	# Not a job: a server started by hand.
	"$SYSPY" -m http.server "$P" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
	bg_track $!
	wait_listen "$P"
	printf '\n[forward]\nports = %s\nskip = 22, 5432\n' "$P" >>ferry.ini
	run "$FERRY" config
	[[ "$output" == *"forward.ports"*"$P"*"ferry.ini:"* ]]
	[[ "$output" == *"forward.skip"*"22, 5432"* ]]
	fwd_start fwd forward
	# The server is on this machine: P is taken here, so P+1.
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$((P + 1)) -> localhost:$P on the server \($P is taken here\)" 10
	fetch_same "http://127.0.0.1:$((P + 1))/blob.bin" "$T/www/blob.bin"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
	sed -i "s/^ports = .*/ports = 0/" ferry.ini
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"forward.ports wants port numbers"* ]]
}

@test "forward: --job of a job that is not running says so and exits 1" {
	run "$FERRY" run --no-push -- true
	[ "$status" -eq 0 ]
	j=$output
	run "$FERRY" wait "$j"
	run "$FERRY" forward --job "$j"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"job $j is not running: it has no ports to forward"* ]]
}

@test "forward: jobs show of two running jobs lists both jobs' ports (channel 1 used twice in a row)" {
	P=$(free_port_pair)
	serve_job "$P"
	a=$JOB
	Q=$(free_port_pair)
	serve_job "$Q"
	b=$JOB
	run timeout 20 "$FERRY" jobs show "$a" "$b"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ports:     $P (127.0.0.1)"* ]]
	[[ "$output" == *"ports:     $Q (127.0.0.1)"* ]]
}

@test "forward: a connection that half-closes at once, before sending anything, still ends (the server sees EOF)" {
	P=$(free_port_pair)
	serve_job "$P"
	L=$(free_port_pair)
	fwd_start fwd forward "$L:$P"
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$L -> " 10
	for i in $(seq 20); do
		run timeout 10 "$SYSPY" - 127.0.0.1 "$L" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=8)
s.shutdown(socket.SHUT_WR)
sys.exit(0 if s.recv(10) == b"" else 1)
PY
		[ "$status" -eq 0 ]
	done
}
