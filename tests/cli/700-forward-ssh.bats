#!/usr/bin/env bats
# ferry forward over a real sshd that forbids forwarding
# (AllowTcpForwarding no): everything here goes through ferry's own
# connection to its agent, none through ssh's channels.

load helpers
load jobs-lib
load fwd-lib

setup_file() {
	export SSHD_EXTRA="AllowTcpForwarding no"
	sshd_setup_file
}
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
	fwd_setup
	"$FERRY" exec -- true	# the agent installed, the master up
}
teardown() {
	fwd_teardown
	common_teardown
}

@test "forward over ssh: this sshd refuses ssh -L (so what follows is ferry's own)" {
	P=$(free_port_pair)
	L=$((P + 2))
	"$SYSPY" -m http.server "$P" --bind 127.0.0.1 --directory "$T" >/dev/null 2>&1 &
	bg_track $!
	wait_listen "$P"
	ssh -F "$SSHD_DIR/ssh_config" -o LogLevel=INFO -N -L "$L:127.0.0.1:$P" ferry-test 2>"$T/sshL.err" &
	bg_track $!
	wait_listen "$L"
	run curl -sS --max-time 5 "http://127.0.0.1:$L/"
	echo "$output"
	[ "$status" -ne 0 ]
	wait_line "$T/sshL.err" "administratively prohibited" 5
	run ssh -F "$SSHD_DIR/ssh_config" -o LogLevel=INFO -W "127.0.0.1:$P" ferry-test </dev/null
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"administratively prohibited"* ]]
}

@test "forward over ssh: a job's http.server is forwarded automatically, byte for byte, and one started later too" { check_fwd_auto; }

@test "forward over ssh: LOCAL:PORT to any server port; a port nobody listens on gives one line, the other spec goes on; a taken port moves on" { check_fwd_specs; }

@test "forward over ssh: 100 connections at once, every byte back" { check_fwd_conc 100 200000; }

@test "forward over ssh: a bulk stream does not hold up an interactive one" {
	P=$(free_port_pair)
	serve_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	run timeout 60 "$SYSPY" "$LOAD" latency 127.0.0.1 "$l" "${FWD_BULK:-200000000}" 200 200
	echo "$output"
	echo "# $output" >&3
	[ "$status" -eq 0 ]
}

@test "forward over ssh: never another user's port, nor a port of yours outside a job; --list the same" {
	[ "$(id -u)" = 0 ] || skip "needs root for the other user"
	ensure_test_user ferrytest
	make_www
	P=$(free_port_pair)	# the job's
	O=$(free_port_pair)	# ferrytest's
	A=$(free_port_pair)	# root's, in the background here
	B=$(free_port_pair)	# root's, started through plain ssh
	runuser -u ferrytest -- "$SYSPY" -m http.server "$O" --bind 127.0.0.1 --directory /tmp >/dev/null 2>&1 &
	bg_track $!
	"$SYSPY" -m http.server "$A" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
	bg_track $!
	bpid=$(ssh -F "$SSHD_DIR/ssh_config" ferry-test "cd $T; setsid $SYSPY -m http.server $B --bind 0.0.0.0 >/dev/null 2>&1 </dev/null & echo \$!")
	bg_track "$bpid"
	wait_listen "$O"
	wait_listen "$A"
	wait_listen "$B"
	http_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	sleep 1	# a few scans more
	list_until "127\.0\.0\.1:$l +(localhost|127\.0\.0\.1):$P "
	echo "$output"
	cat "$T/fwd.err"
	for x in "$O" "$A" "$B"; do
		not_in "$T/fwd.err" "$x"
		[[ "$output" != *":$x "* ]] || return 1
	done
	[ "$(grep -c 'listens on' "$T/fwd.err")" -eq 1 ]
	run "$FERRY" forward --list --json
	echo "$output"
	echo "$output" | "$SYSPY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
assert rows, "no forward listed"
for r in rows:
    assert str(sys.argv[1]) in json.dumps(r), r
' "$P"
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
}

@test "forward over ssh: the ssh client killed mid-forward: new connections work again within seconds" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	# The ssh that ferry forward started (through the ControlMaster).
	sshpid=
	for p in $(descendants "$FWD_PID"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = ssh ] && sshpid=$p && break
	done
	echo "ssh client: $sshpid"
	[ -n "$sshpid" ]
	# A download in flight (200 MB at 1 MB/s) is reset, not left hanging.
	truncate -s 200M "$T/www/big.bin"
	curl -s --limit-rate 1000000 --max-time 30 -o /dev/null "http://127.0.0.1:$l/big.bin" &
	inflight=$!
	bg_track "$inflight"
	sleep 0.5
	t0=$(date +%s%N)
	kill -9 "$sshpid"
	wait_exit "$inflight" 15
	echo "# the download in flight: exit $EXIT_RC after $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&3
	[ "$EXIT_RC" -ne -1 ]
	[ "$EXIT_RC" -ne 0 ]
	ok=
	for ((i = 0; i < 150; i++)); do
		if curl -s --max-time 2 -o "$T/got" "http://127.0.0.1:$l/blob.bin" && cmp -s "$T/got" "$T/www/blob.bin"; then
			ok=1
			break
		fi
		sleep 0.1
	done
	t1=$(date +%s%N)
	echo "# back after $(( (t1 - t0) / 1000000 )) ms" >&3
	cat "$T/fwd.err"
	[ -n "$ok" ]
	kill -0 "$FWD_PID"
	[ "$(( (t1 - t0) / 1000000 ))" -lt 10000 ]
}

@test "forward over ssh: jupyter-notebook as a job, its port taken here and there: the URL ferry prints works, websocket included" {
	command -v jupyter-notebook >/dev/null || skip "jupyter-notebook not installed"
	"$SYSPY" -c 'import websocket' 2>/dev/null || skip "python3-websocket not installed"
	# Jupyter's own 8888 when 8888-8891 are free here, else another.
	P=$(free_port_pair 8888)
	hold_port "$P"	# the server's P and the laptop's P at once (one machine)
	mkdir -p "$T/jhome"
	start_job --no-push -e HOME="$T/jhome" -e JUPYTER_RUNTIME_DIR="$T/jhome/rt" -e JUPYTER_CONFIG_DIR="$T/jhome/cfg" \
		-e JUPYTER_DATA_DIR="$T/jhome/data" -- jupyter-notebook --no-browser --port "$P" --ip 127.0.0.1 --allow-root --notebook-dir "$T/jhome"
	fwd_start fwd forward
	# Jupyter moves to P+1 on the server; the laptop's P+1 is Jupyter's
	# own here, so ferry moves on again.
	l=$(job_local_port "$T/fwd.err" "$JOB" "$((P + 1))" 30)
	wait_line "$T/fwd.err" "$(url_re "$l").*\?token=[0-9a-f]+" 15
	url=$(grep -Eo "http://127\.0\.0\.1:$l/[^ ]*\?token=[0-9a-f]+" "$T/fwd.err" | head -n 1)
	echo "url: $url"
	cat "$T/fwd.err"
	[ "$l" != "$P" ]
	[ "$l" != "$((P + 1))" ]
	run timeout 60 "$SYSPY" "$BATS_TEST_DIRNAME/jupyter-check.py" "$url"
	echo "$output"
	[ "$status" -eq 0 ]
	# The log's URL, rewritten: path and query byte for byte.
	tok=${url##*token=}
	"$FERRY" logs "$JOB" | grep -q "$tok"
}

@test "forward over ssh: logs -f and run -f forward the job's ports and print its URL; jobs show lists them" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	fwd_start follow logs -f "$JOB"
	l=$(job_local_port "$T/follow.err" "$JOB" "$P")
	wait_line "$T/follow.err" "$(url_re "$l")" 5
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	run "$FERRY" jobs show "$JOB"
	echo "$output"
	[[ "$output" == *"$P"* ]]
	[[ "$output" == *"http://"*":$P/"* ]]
	kill -INT "$FWD_PID" || true
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -ne -1 ]
	Q=$(free_port_pair)
	fwd_start runf run -f --no-push -- "$SYSPY" -u -m http.server "$Q" --bind 127.0.0.1 --directory "$T/www"
	wait_line "$T/runf.err" "job [0-9]+ listens on $Q[:,] " 15
	j=$(sed -nE "s/.*job ([0-9]+) listens on $Q[:,] .*/\1/p" "$T/runf.err" | head -n 1)
	l=$(job_local_port "$T/runf.err" "$j" "$Q")
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	# --no-forward: the job still runs, nothing is forwarded.
	R2=$(free_port_pair)
	fwd_start nofwd run -f --no-forward --no-push -- "$SYSPY" -u -m http.server "$R2" --bind 127.0.0.1 --directory "$T/www"
	wait_listen "$R2"
	sleep 0.5
	not_in "$T/nofwd.err" "listens on"
}

@test "forward over ssh: --list shows the live forward with its traffic" {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	fetch_same "http://127.0.0.1:$l/blob.bin" "$T/www/blob.bin"
	# 6 MB came in: the IN column says megabytes (fmt_bytes: 5.7M).
	list_until "^$FWD_PID +ferry-test +127\.0\.0\.1:$l +(localhost|127\.0\.0\.1):$P +[0-9]+ +[0-9.]+M "
	echo "$output"
	[[ "$output" == "PID"*"TARGET"*"LOCAL"*"REMOTE"*"CONNS"*"IN"*"OUT"* ]]
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
	run "$FERRY" forward --list
	[[ "$output" != *"$FWD_PID "* ]]
}
