# exec-lib.bash - exec behaviours checked the same way on every target.
# The caller has a project whose ferry.ini points at the target under test.

# Arguments that a shell in between would mangle.
HOSTILE=("a b" "  lead" "trail  " "'single'" '"double"' ';' '$(touch pwned)' '`id`' $'new\nline' "-n" "--" "*" '$HOME' "\\back" "")

check_argv_verbatim() {
	run "$FERRY" exec -- printf '[%s]\n' "${HOSTILE[@]}"
	[ "$status" -eq 0 ]
	expected=$(printf '[%s]\n' "${HOSTILE[@]}")
	[ "$output" = "$expected" ]
	[ ! -e "$1/pwned" ]
}

check_streams() {
	run --separate-stderr "$FERRY" exec -- sh -c 'echo out; echo err >&2'
	[ "$status" -eq 0 ]
	[ "$output" = "out" ]
	[ "$stderr" = "err" ]
}

check_stdin_binary() {
	head -c 1500000 /dev/urandom >"$T/in.bin"
	"$FERRY" exec -- cat <"$T/in.bin" >"$T/out.bin"
	cmp "$T/in.bin" "$T/out.bin"
	# a command that never reads its stdin must not hang us
	run "$FERRY" exec -- true <"$T/in.bin"
	[ "$status" -eq 0 ]
	# -n gives /dev/null
	run "$FERRY" exec -n -- sh -c 'cat; echo done'
	[ "$output" = "done" ]
}

check_exit_codes() {
	run "$FERRY" exec -- sh -c 'exit 42'
	[ "$status" -eq 42 ]
	run "$FERRY" exec -- sh -c 'kill -TERM $$'
	[ "$status" -eq 143 ]
	run "$FERRY" exec -- sh -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	run -127 "$FERRY" exec -- ferry-no-such-command
	[ "$status" -eq 127 ]
	[[ "$output" == *"cannot run 'ferry-no-such-command'"* ]]
}

check_cwd() {
	run "$FERRY" exec -- pwd
	[ "$status" -eq 0 ]
	[ "$output" = "$1" ]
}

check_shell_and_env() {
	run "$FERRY" exec --shell 'echo $((6*7)) | tr 4 X'
	[ "$output" = "X2" ]
	run "$FERRY" exec -e FOO=bar -e 'SP=a b' -- sh -c 'echo "$FOO/$SP"'
	[ "$output" = "bar/a b" ]
}

# Ctrl-C: SIGINT to ferry reaches the remote command, which may handle it.
check_ctrl_c() {
	"$FERRY" exec -- sh -c 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.1; done' >"$T/cc.out" 2>&1 &
	local pid=$! i
	for i in $(seq 1 100); do
		grep -q ready "$T/cc.out" 2>/dev/null && break
		sleep 0.1
	done
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat "$T/cc.out"
	[ "$rc" -eq 7 ]
	grep -q got-int "$T/cc.out"
}

# `cmd | head`: the remote command gets SIGPIPE and ferry ends promptly.
check_stdout_closed_early() {
	run timeout 30 sh -c "\"$FERRY\" exec -- yes | head -n 1"
	[ "$status" -eq 0 ]
	[ "$output" = "y" ]
}

# Closed stdin/stdout/stderr must not be mistaken for our own pipes.
check_closed_fds() {
	run timeout 30 sh -c "\"$FERRY\" exec -- sh -c 'cat; echo done' <&-"
	[ "$status" -eq 0 ]
	[ "$output" = "done" ]
	run timeout 30 sh -c "\"$FERRY\" exec -n -- seq 200000 >&-; echo rc=\$?"
	[[ "$output" == *"rc="* ]]
	run timeout 30 sh -c "\"$FERRY\" exec -- sh -c 'echo out; echo err >&2' 2>&-"
	[ "$output" = "out" ]
}

# Big arguments pipelined behind the hello, with stdin at EOF at once.
check_big_request() {
	local a
	a=$(head -c 30000 /dev/zero | tr '\0' a)
	run timeout 30 "$FERRY" exec -- sh -c 'cat; printf "%s" "$1$2$3" | wc -c' x "$a" "$a" "$a" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" -eq 90000 ]
	run "$FERRY" exec -- echo "$(head -c 70000 /dev/zero | tr '\0' a)"
	[ "$status" -eq 64 ]
}

# SIGTERM to ferry: forwarded; if the command ignores it, ferry still ends.
check_term() {
	"$FERRY" exec -- sh -c 'trap "" TERM; echo ready; sleep 30' >"$T/term.out" 2>&1 &
	local pid=$! i rc=0
	for i in $(seq 1 100); do
		grep -q ready "$T/term.out" 2>/dev/null && break
		sleep 0.1
	done
	local t0=$SECONDS
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	cat "$T/term.out"
	[ "$rc" -eq 143 ]
	[ $((SECONDS - t0)) -le 6 ]
}
