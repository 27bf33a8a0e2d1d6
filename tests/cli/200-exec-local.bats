#!/usr/bin/env bats
# ferry exec against the built-in local target.

load helpers
load exec-lib

setup() {
	common_setup
	"$FERRY" init --local "$T/remote" >/dev/null
}
teardown() { common_teardown; }

@test "local: argv arrives verbatim, no shell in between" { check_argv_verbatim "$T/remote"; }
@test "local: stdout and stderr stay separate" { check_streams; }
@test "local: stdin is forwarded, binary-safe" { check_stdin_binary; }
@test "local: exit codes and signals come back" { check_exit_codes; }
@test "local: runs in the project folder, creating it" { check_cwd "$T/remote"; }
@test "local: --shell and --env" { check_shell_and_env; }
@test "local: Ctrl-C reaches the command" { check_ctrl_c; }
@test "local: | head ends the remote command" { check_stdout_closed_early; }
@test "local: closed stdin, stdout or stderr" { check_closed_fds; }
@test "local: large arguments pipelined behind the hello" { check_big_request; }
@test "local: SIGTERM is forwarded, and ferry ends anyway" { check_term; }

@test "local: a background process in the login profile does not stall commands" {
	printf '(sleep 30 >/dev/null 2>&1 &)\n(sleep 30 &)\n' >"$HOME/.profile"
	cp "$HOME/.profile" "$HOME/.bash_profile"
	t0=$SECONDS
	run "$FERRY" exec -- echo ok
	[ "$output" = "ok" ]
	run "$FERRY" exec -- echo ok
	[ "$output" = "ok" ]
	[ $((SECONDS - t0)) -le 5 ]
}

@test "local: login shell environment is used, cached, refreshed on rc change" {
	mkdir -p "$HOME/bin"
	printf '#!/bin/sh\necho mytool-ran\n' >"$HOME/bin/mytool"
	chmod +x "$HOME/bin/mytool"
	# bash and sh read different files as login shells: cover both.
	printf 'export FERRY_T=one\nPATH="$HOME/bin:$PATH"\n' >"$HOME/.profile"
	cp "$HOME/.profile" "$HOME/.bash_profile"
	run "$FERRY" exec -- mytool
	[ "$status" -eq 0 ]
	[ "$output" = "mytool-ran" ]
	run "$FERRY" exec -- sh -c 'echo "$FERRY_T"'
	[ "$output" = "one" ]
	[ -f "$XDG_CACHE_HOME/ferry/login-env" ]
	[ "$(stat -c %a "$XDG_CACHE_HOME/ferry")" = 700 ]
	[ "$(stat -c %a "$XDG_CACHE_HOME/ferry/login-env")" = 600 ]
	sleep 0.01
	printf 'export FERRY_T=two\nPATH="$HOME/bin:$PATH"\n' >"$HOME/.profile"
	cp "$HOME/.profile" "$HOME/.bash_profile"
	run "$FERRY" exec -- sh -c 'echo "$FERRY_T"'
	[ "$output" = "two" ]
	run "$FERRY" exec --no-login-env -- sh -c 'echo "[$FERRY_T]"'
	[ "$output" = "[]" ]
}

@test "local: a corrupt login-env cache is ignored and rewritten" {
	mkdir -p "$XDG_CACHE_HOME/ferry"
	head -c 3000 /dev/urandom >"$XDG_CACHE_HOME/ferry/login-env"
	run "$FERRY" exec -- true
	[ "$status" -eq 0 ]
	run "$FERRY" exec -- true
	[ "$status" -eq 0 ]
}

@test "local: a large output stream arrives whole" {
	run sh -c "\"$FERRY\" exec -- head -c 20000000 /dev/zero | wc -c"
	[ "$output" -eq 20000000 ]
}

@test "local: output closed early (| head) ends cleanly" {
	run sh -c "\"$FERRY\" exec -- seq 1 1000000 | head -n 2"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '1\n2')" ]
}

@test "usage errors for exec" {
	run "$FERRY" exec
	[ "$status" -eq 64 ]
	run "$FERRY" exec --shell 'x' extra
	[ "$status" -eq 64 ]
	run "$FERRY" exec -e novalue -- true
	[ "$status" -eq 64 ]
}

@test "doctor on the local target" {
	run "$FERRY" doctor
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok    agent"* ]]
	[[ "$output" == *"does not exist yet"* ]]
	"$FERRY" exec -- true
	run "$FERRY" doctor --json
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"]; assert any(c["name"]=="clock skew" and c["state"]=="ok" for c in d["checks"])'
}

@test "doctor: a project path that is a file, or under one" {
	echo x >"$T/afile"
	"$FERRY" init --force --local "$T/afile" >/dev/null
	run "$FERRY" doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  remote path       $T/afile is a file, not a folder"* ]]
	"$FERRY" init --force --local "$T/afile/proj" >/dev/null
	run "$FERRY" doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot be created: $T/afile is a file, not a folder"* ]]
}

@test "doctor without a project file fails with a hint" {
	rm -f ferry.ini
	run "$FERRY" doctor
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  project file"* ]]
}
