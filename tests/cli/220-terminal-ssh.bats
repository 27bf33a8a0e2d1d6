#!/usr/bin/env bats
# ferry in a real terminal (tmux) over a real sshd on 127.0.0.1: Ctrl-C
# reaches the remote command and not ssh, ssh's prompts on first contact
# still work, following survives the link.

load helpers
load jobs-lib

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	command -v tmux >/dev/null || skip "tmux is not installed"
	common_setup
	init_ssh_project
	R="$T/remote"
	TSOCK="$T/tmux.sock"
}
teardown() {
	[ -n "${TSOCK:-}" ] && tmux -S "$TSOCK" kill-server 2>/dev/null
	jobs_teardown
	common_teardown
}

# in_tmux CMD: runs CMD in a new tmux session in this project, then prints
# its exit status as "exit=N".
in_tmux() {
	tmux -S "$TSOCK" -f /dev/null new-session -d -x 120 -y 30 \
		"cd $PWD && HOME=$HOME XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $1; echo exit=\$?; sleep 60"
}
screen() { tmux -S "$TSOCK" capture-pane -p -S -100; }
until_screen() {	# until_screen TEXT [tries of 0.1 s]
	local i
	for i in $(seq 1 "${2:-150}"); do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	screen
	return 1
}

@test "terminal: Ctrl-C reaches the remote command, not ssh" {
	cat >int.py <<'PY'
import sys, time
print("waiting", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print("caught", flush=True)
    sys.exit(3)
PY
	"$FERRY" push >/dev/null
	in_tmux "$FERRY exec -- python3 int.py"
	until_screen waiting
	tmux -S "$TSOCK" send-keys C-c
	until_screen "exit=3"
	screen | grep -q caught
	! screen | grep -q "connection to"
}

@test "terminal: Ctrl-\\ is forwarded as SIGQUIT" {
	in_tmux "$FERRY exec --shell 'trap \"echo quit; exit 9\" QUIT; echo waiting; while :; do sleep 0.1; done'"
	until_screen waiting
	tmux -S "$TSOCK" send-keys 'C-\'
	until_screen "exit=9"
	screen | grep -q 'quit$'	# after the ^\ the terminal echoed
}

@test "terminal: ssh asks to accept an unknown host key on first contact" {
	sed -e 's/StrictHostKeyChecking yes/StrictHostKeyChecking ask/' -e '/BatchMode yes/d' \
		-e "s|UserKnownHostsFile .*|UserKnownHostsFile $T/known_hosts|" "$SSHD_DIR/ssh_config" >"$T/ask_config"
	: >"$T/known_hosts"
	sed -i "s|ssh -F $SSHD_DIR/ssh_config|ssh -F $T/ask_config|" "$USER_CONFIG"
	in_tmux "$FERRY exec -- echo first-contact-ok"
	until_screen "continue connecting"
	tmux -S "$TSOCK" send-keys yes Enter
	until_screen "exit=0"
	screen | grep -q '^first-contact-ok'
	grep -q 127.0.0.1 "$T/known_hosts"
}

@test "terminal: Ctrl-C on logs -f leaves the job running and says how to stop it" {
	start_job --shell 'echo started; sleep 60'
	in_tmux "$FERRY logs -f $JOB"
	until_screen started
	tmux -S "$TSOCK" send-keys C-c
	until_screen "exit=130"
	screen | grep -qx "ferry: job $JOB keeps running; stop it with: ferry kill $JOB"
	[ "$(job_field "$JOB" state)" = running ]
}

@test "terminal: Ctrl-C on run -f and wait: the job keeps running" {
	in_tmux "$FERRY run -f --shell 'echo started; sleep 60'"
	until_screen started
	id=$(screen | sed -n 's/^ferry: job \([0-9][0-9]*\) started.*/\1/p' | head -n 1)
	[ -n "$id" ]
	tmux -S "$TSOCK" send-keys C-c
	until_screen "exit=130"
	screen | grep -qx "ferry: job $id keeps running; stop it with: ferry kill $id"
	tmux -S "$TSOCK" kill-server
	TSOCK="$T/tmux2.sock"
	in_tmux "$FERRY wait $id"
	sleep 1
	tmux -S "$TSOCK" send-keys C-c
	until_screen "exit=130"
	# a slow machine may still be connecting: that is said too
	# (after the terminal's own "^C" echo)
	screen | grep -q -e "^ferry: job $id keeps running; stop it with: ferry kill $id\$" \
		-e "ferry: interrupted while connecting to 'ferry-test'\$"
	[ "$(job_field "$id" state)" = running ]
}

# cut_link: ends this test's ControlMaster and the sshd processes serving
# its sessions (children of the test's own sshd), as a dropped link would.
cut_link() {
	local sock master
	for sock in "$XDG_RUNTIME_DIR"/ferry/*; do
		[ -S "$sock" ] || continue
		master=$(ssh -o ControlPath="$sock" -O check dummy 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
		[ -n "$master" ] && kill -9 "$master"
	done
	pkill -9 -P "$SSHD_PID" || true
}

@test "terminal: logs -f reconnects after the link drops, no byte lost or doubled" {
	# lines that end mid-way too, so the reconnect line must start its own
	start_job --shell 'for i in $(seq 1 60); do printf "line %03d of the log %s\n" $i "$(head -c 300 /dev/zero | tr "\0" x)"; [ $((i % 7)) = 0 ] && printf "partial %d " $i; sleep 0.05; done; echo end; exit 6'
	"$FERRY" logs -f "$JOB" >"$T/follow.out" 2>"$T/follow.err" &
	follower=$!
	for i in $(seq 1 100); do grep -q "line 005" "$T/follow.out" && break; sleep 0.1; done
	cut_link
	sleep 0.5
	cut_link
	st=0
	wait "$follower" || st=$?
	cat "$T/follow.err"
	[ "$st" -eq 6 ]
	grep -qx "ferry: connection lost; reconnecting..." "$T/follow.err"
	grep -qx "ferry: reconnected" "$T/follow.err"
	"$FERRY" logs "$JOB" >"$T/whole.out"
	cmp "$T/follow.out" "$T/whole.out"
}

@test "terminal: wait reconnects after the link drops" {
	start_job --shell 'sleep 6; exit 5'
	"$FERRY" wait "$JOB" >"$T/wait.out" 2>"$T/wait.err" &
	waiter=$!
	sleep 3
	cut_link
	st=0
	wait "$waiter" || st=$?
	cat "$T/wait.err"
	[ "$st" -eq 5 ]
	grep -q "job $JOB failed (exit 5)" "$T/wait.out"
	grep -qx "ferry: reconnected" "$T/wait.err"
}

@test "terminal: attach shows the recent output first, then the banner (10 times)" {
	cat >pdb_like.py <<'PY'
import sys
print("some output before the prompt", flush=True)
while True:
    line = input("(Pdb) ")
    print("ran", line, flush=True)
PY
	start_job -- python3 pdb_like.py
	until_log() { local i; for i in $(seq 1 100); do "$FERRY" logs "$JOB" | grep -q "$1" && return 0; sleep 0.1; done; return 1; }
	until_log "(Pdb)"
	# A client slow to read gets the hello and the recent output in one
	# read (as on a long link): stopped for a moment while they arrive.
	cat >"$T/stopgo.sh" <<'SH'
"$@" 0<&0 &
p=$!
sleep 0.15; kill -STOP $p; sleep 1.5; kill -CONT $p
wait $p
SH
	for k in $(seq 1 10); do
		TSOCK="$T/tmux$k.sock"	# a new server each time
		slow=
		[ "$k" -gt 7 ] && slow="bash $T/stopgo.sh"
		in_tmux "$slow $FERRY attach $JOB"
		until_screen "detach with Ctrl-]" 100
		# the prompt is there at once, above the banner, without a key
		screen | grep -n . >"$T/screen"
		prompt=$(grep -m1 '(Pdb)' "$T/screen" | cut -d: -f1)
		banner=$(grep -m1 "ferry: attached to job $JOB; detach with Ctrl-]" "$T/screen" | cut -d: -f1)
		[ -n "$prompt" ] && [ -n "$banner" ] && [ "$prompt" -lt "$banner" ]
		tmux -S "$TSOCK" send-keys C-]
		until_screen "exit=0"
		tmux -S "$TSOCK" kill-server
	done
	[ "$(job_field "$JOB" state)" = running ]
}

@test "terminal: attach reconnects after the link drops and goes on where it was" {
	cat >echo.py <<'PY'
print("ready", flush=True)
while True:
    line = input("> ")
    print("got", line, flush=True)
PY
	start_job -- python3 echo.py
	in_tmux "$FERRY attach $JOB"
	until_screen "detach with Ctrl-]"
	tmux -S "$TSOCK" send-keys "hello" Enter
	until_screen "got hello"
	cut_link
	until_screen "ferry: reconnected" 300
	tmux -S "$TSOCK" send-keys "again" Enter
	until_screen "got again"
	# nothing shown twice: the recent output is not replayed again
	[ "$(screen | grep -c '^got hello')" -eq 1 ]
	[ "$(screen | grep -c '^ready')" -eq 1 ]
	screen | grep -qx "ferry: connection lost; reconnecting..."
	tmux -S "$TSOCK" send-keys C-]
	until_screen "exit=0"
}

@test "terminal: exec -t gives the command a terminal of the window's size" {
	in_tmux "$FERRY exec -t --shell 'if [ -t 0 ] && [ -t 1 ]; then echo tty-yes; fi; stty size; echo TERM=\$TERM; exit 4'"
	until_screen "exit=4"
	screen | grep -q '^tty-yes'
	screen | grep -q '^30 120'
	screen | grep -q '^TERM=screen\|^TERM=tmux'
	# without -t: pipes, as before
	run "$FERRY" exec --shell '[ -t 0 ] || echo no-tty'
	[ "$output" = no-tty ]
	run "$FERRY" exec -t -- true </dev/null
	[ "$status" -eq 64 ]
}

@test "terminal: exec -t: Ctrl-C is a key for the command's terminal; resize follows" {
	cat >int.py <<'PY'
import signal, shutil, sys, time
signal.signal(signal.SIGWINCH, lambda *a: print("size", shutil.get_terminal_size(), flush=True))
print("waiting", flush=True)
try:
    time.sleep(60)
except KeyboardInterrupt:
    print("caught", flush=True)
    sys.exit(3)
PY
	"$FERRY" push >/dev/null
	in_tmux "$FERRY exec -t -- python3 int.py; r=\$?; stty -a | grep -qw -- -icanon || echo cooked-again; (exit \$r)"
	until_screen waiting
	tmux -S "$TSOCK" resize-window -x 100 -y 20
	until_screen "columns=100, lines=20"
	tmux -S "$TSOCK" send-keys C-c
	until_screen "exit=3"
	screen | grep -q caught
	screen | grep -q '^cooked-again'	# the terminal is restored
}

@test "terminal: ferry shell is a login shell in the project folder" {
	in_tmux "$FERRY shell"
	tmux -S "$TSOCK" send-keys 'echo "in=$(pwd)"; shopt -q login_shell && echo login-yes; exit 7' Enter
	until_screen "exit=7"
	screen | grep -q "^in=$R\$"
	screen | grep -q '^login-yes'
}

@test "terminal: attach to no such job, or to one that ended, exits at once with the error" {
	start_job -- true
	wait_state "$JOB" exited
	# Also a client stopped while the hello and the error arrive (they then
	# come in one read, as on a long link): nothing is left unread.
	cat >"$T/stopgo.sh" <<'SH'
"$@" 0<&0 &
p=$!
sleep 0.15; kill -STOP $p; sleep 1.5; kill -CONT $p
wait $p
SH
	for k in $(seq 1 6); do
		slow=
		[ $((k % 2)) -eq 0 ] && slow="bash $T/stopgo.sh"
		TSOCK="$T/tmux-none$k.sock"
		in_tmux "$slow $FERRY attach 999"
		until_screen "exit=" 60	# 6 s, no key pressed
		screen | grep -q "no job 999"
		screen | grep -qx "exit=1"
		tmux -S "$TSOCK" kill-server
		TSOCK="$T/tmux-ended$k.sock"
		in_tmux "$slow $FERRY attach $JOB"
		until_screen "exit=" 60
		screen | grep -q "job $JOB is not running (exited)"
		screen | grep -qx "exit=1"
		tmux -S "$TSOCK" kill-server
	done
}
