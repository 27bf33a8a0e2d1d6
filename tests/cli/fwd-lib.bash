# fwd-lib.bash - helpers for the forward suites (700-forward-*.bats).
# Server and laptop are one machine here: a job listening on 127.0.0.1:P
# holds P on the "laptop" too, so an automatic forward of P lands on the
# next free port and says so; tests read the port from what ferry prints.

# The system python: jupyter-check.py needs python3-websocket, and jobs
# start faster without a version manager's shim in front.
SYSPY=/usr/bin/python3
[ -x "$SYSPY" ] || SYSPY=python3
LOAD="$BATS_TEST_DIRNAME/fwd-load.py"

fwd_setup() {
	: >"$T/bg.pids"
}

# Every background process a test started (and what runs under it, as
# runuser's child), then the jobs and agents.
fwd_teardown() {
	local p
	if [ -f "$T/bg.pids" ]; then
		while read -r p; do
			[ -n "$p" ] || continue
			kill -9 $(descendants "$p") "$p" 2>/dev/null
		done <"$T/bg.pids"
	fi
	jobs_teardown
	return 0
}

bg_track() { echo "$1" >>"$T/bg.pids"; }

# fwd_start NAME ARGS...: `ferry ARGS` in the background (SIGINT not
# ignored, as it would be for a plain `&`), stdout to $T/NAME.out,
# stderr to $T/NAME.err.  Sets FWD_PID.
fwd_start() {
	local name=$1
	shift
	env --default-signal=INT "$FERRY" "$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" &
	FWD_PID=$!
	FWD_ERR="$T/$name.err"
	bg_track "$FWD_PID"
}

# wait_line FILE ERE [SECONDS]: until a line of FILE matches (default
# 15 s); gives up at once when FILE is the stderr of an fwd_start
# process that has exited.
wait_line() {
	local i n=$(( ${3:-15} * 20 ))
	for ((i = 0; i < n; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		if [ "$1" = "${FWD_ERR:-}" ] && ! kill -0 "$FWD_PID" 2>/dev/null; then
			grep -Eq -- "$2" "$1" 2>/dev/null && return 0
			echo "ferry exited; no line matching '$2' in $1:" >&2
			cat "$1" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "no line matching '$2' in $1 after ${3:-15} s:" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}

# job_local_port ERRFILE JOB PORT [SECONDS]: the laptop port ferry
# printed for the job's PORT ("ferry: job 4 listens on 8888, forwarded to
# 127.0.0.1:8889 (8888 is taken here)"; the first draft of
# docs/forward.md's "job 4 listens on 8888: http://127.0.0.1:8889/" is
# read too).  One test in 700-forward-local pins the wording.
JOB_RE='(: http://127\.0\.0\.1:|, forwarded to 127\.0\.0\.1:)([0-9]+)'
job_local_port() {
	wait_line "$1" "job $2 listens on $3$JOB_RE" "${4:-15}" || return 1
	sed -nE "s#.*job $2 listens on $3$JOB_RE.*#\2#p" "$1" | head -n 1
}

# url_re PORT: a URL line for the laptop's PORT (the spec's "ferry: URL",
# or "ferry: job N: URL").
url_re() { echo "^ferry: (job [0-9]+: )?http://127\.0\.0\.1:$1/"; }

# free_port_pair [WANT]: a port P with P+1 to P+3 free too (a server that
# moves up, and ferry's local side moving past it); WANT when it is so.
free_port_pair() {
	"$SYSPY" - "${1:-0}" <<'PY'
import random, socket, sys
for i in range(200):
    p = int(sys.argv[1]) if i == 0 and sys.argv[1] != "0" else random.randint(20000, 40000)
    try:
        ss = []
        for q in (p, p + 1, p + 2, p + 3):
            s = socket.socket()
            s.bind(("127.0.0.1", q))
            ss.append(s)
        print(p)
        break
    except OSError:
        pass
    finally:
        for s in ss:
            s.close()
PY
}

# hold_port PORT: a listener that is nobody's job (the "laptop" and
# server side both see it).  Sets HOLD_PID.
hold_port() {
	"$SYSPY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("held", flush=True); time.sleep(600)' "$1" >"$T/hold.$1" &
	HOLD_PID=$!
	bg_track "$HOLD_PID"
	wait_line "$T/hold.$1" held 10
}

# www: a 3 MB random file to serve; $T/www/blob.bin.
make_www() {
	mkdir -p "$T/www"
	head -c 3000000 /dev/urandom >"$T/www/blob.bin"
}

# http_job PORT [ferry run options]: a job serving $T/www with
# http.server on 127.0.0.1:PORT; sets JOB and waits until it listens.
http_job() {
	local port=$1
	shift
	start_job --no-push "$@" -- "$SYSPY" -u -m http.server "$port" --bind 127.0.0.1 --directory "$T/www"
	wait_listen "$port"
}

# serve_job PORT: fwd-load.py's echo/bulk server as a job; sets JOB.
serve_job() {
	start_job --no-push -- "$SYSPY" -u "$LOAD" serve "$1" "$T/ready.$1"
	wait_listen "$1"
}

# wait_listen PORT: until something accepts on 127.0.0.1:PORT (10 s).
wait_listen() {
	local i
	for ((i = 0; i < 200; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on 127.0.0.1:$1"
	return 1
}

# fetch_same URL FILE: the URL's bytes equal FILE's.
fetch_same() {
	curl -sS --max-time 20 -o "$T/got" "$1" || return 1
	cmp "$T/got" "$2"
}

# not_in FILE ERE: no line of FILE matches (`! grep` would not fail a
# bats test: set -e ignores a negated command).
not_in() {
	if grep -Eq -- "$2" "$1"; then
		echo "$1 has a line matching '$2':"
		grep -E -- "$2" "$1"
		return 1
	fi
	return 0
}

# wait_exit PID [SECONDS]: waits for a background child, at most SECONDS
# (default 10), killing it past that; sets EXIT_RC (-1 for "hung").
wait_exit() {
	local i n=$(( ${2:-10} * 20 ))
	EXIT_RC=-1
	for ((i = 0; i < n; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			EXIT_RC=0
			wait "$1" || EXIT_RC=$?
			return 0
		fi
		sleep 0.05
	done
	echo "process $1 still runs after ${2:-10} s"
	kill -9 "$1" 2>/dev/null
	return 0
}

# descendants PID: every process under PID, children first.
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

# list_until ERE [SECONDS]: `ferry forward --list` until a line matches
# (its file is rewritten about once a second); $output holds the last.
list_until() {
	local i
	for ((i = 0; i < ${2:-5} * 5; i++)); do
		output=$("$FERRY" forward --list 2>&1) || true
		grep -Eq -- "$1" <<<"$output" && return 0
		sleep 0.2
	done
	echo "no line of ferry forward --list matches '$1':"
	echo "$output"
	return 1
}

# ---- test bodies both suites run (local target and ssh) ----

# A job's http.server forwarded automatically, byte for byte; one started
# later too, with its URL; the job's end closes the laptop's port;
# Ctrl-C exits 0.
check_fwd_auto() {
	make_www
	P=$(free_port_pair)
	http_job "$P"
	j1=$JOB
	fwd_start fwd forward
	l1=$(job_local_port "$T/fwd.err" "$j1" "$P")
	echo "job $j1: server $P, laptop $l1"
	cat "$T/fwd.err"
	# The server's P is held on this machine: the next port, and said.
	[ "$l1" != "$P" ]
	grep -q "($P is taken here)" "$T/fwd.err"
	fetch_same "http://127.0.0.1:$l1/blob.bin" "$T/www/blob.bin"
	# A job started while the forward runs: seen within a second or so.
	Q=$(free_port_pair)
	http_job "$Q"
	j2=$JOB
	l2=$(job_local_port "$T/fwd.err" "$j2" "$Q" 5)
	fetch_same "http://127.0.0.1:$l2/blob.bin" "$T/www/blob.bin"
	# The job's own URL (http.server prints one) with the laptop's port.
	wait_line "$T/fwd.err" "$(url_re "$l2")" 5
	# The job ends: the laptop's port closes.
	"$FERRY" kill "$j2" >/dev/null
	for ((i = 0; i < 50; i++)); do
		curl -s --max-time 1 "http://127.0.0.1:$l2/" >/dev/null || break
		sleep 0.1
	done
	run curl -sS --max-time 2 "http://127.0.0.1:$l2/"
	[ "$status" -ne 0 ]
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
}

# LOCAL:PORT to a server port nobody's job holds; a port nobody listens
# on gives one line and the other spec goes on; a local port that is
# taken: the next one, said.
check_fwd_specs() {
	make_www
	P=$(free_port_pair)
	"$SYSPY" -m http.server "$P" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
	bg_track $!
	wait_listen "$P"
	L=$(free_port_pair)
	D=$(free_port_pair)	# nothing listens there
	LD=$(free_port_pair)
	fwd_start fwd forward "$L:$P" "$LD:$D"
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$L -> " 10
	wait_line "$T/fwd.err" "forwarding 127\.0\.0\.1:$LD -> " 10
	fetch_same "http://127.0.0.1:$L/blob.bin" "$T/www/blob.bin"
	run curl -sS --max-time 5 "http://127.0.0.1:$LD/"
	[ "$status" -ne 0 ]
	wait_line "$T/fwd.err" "^ferry: 127\.0\.0\.1:$LD.*connection refused.*localhost:$D" 5
	cat "$T/fwd.err"
	[ "$(grep -c "connection refused" "$T/fwd.err")" -eq 1 ]
	kill -0 "$FWD_PID"
	fetch_same "http://127.0.0.1:$L/blob.bin" "$T/www/blob.bin"
	# Taken here: the next port, said.
	H=$(free_port_pair)
	hold_port "$H"
	fwd_start fwd2 forward "$H:$P"
	wait_line "$T/fwd2.err" "^ferry: forwarding 127\.0\.0\.1:$((H + 1)) -> .*localhost:$P.* \($H is taken here\)$" 10
	fetch_same "http://127.0.0.1:$((H + 1))/blob.bin" "$T/www/blob.bin"
	kill -INT "$FWD_PID"
	wait_exit "$FWD_PID"
	[ "$EXIT_RC" -eq 0 ]
}

# N connections at once (100; past 255 they wait for a channel) through
# a job's automatic forward, every byte back.
check_fwd_conc() {
	P=$(free_port_pair)
	serve_job "$P"
	fwd_start fwd forward
	l=$(job_local_port "$T/fwd.err" "$JOB" "$P")
	run timeout 60 "$SYSPY" "$LOAD" conc 127.0.0.1 "$l" "$1" "$2"
	echo "$output"
	echo "# $output" >&3
	[ "$status" -eq 0 ]
}
