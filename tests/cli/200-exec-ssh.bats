#!/usr/bin/env bats
# ferry over a real sshd on 127.0.0.1, started by the suite.

load helpers
load exec-lib

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
}
teardown() { common_teardown; }

@test "ssh: first contact installs the agent, later runs reuse it" {
	rm -rf "$SSHD_DIR/agents"
	run "$FERRY" exec -- echo hello
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "hello" ]
	id=$("$FERRY" agent --build-id)
	[ -x "$SSHD_DIR/agents/$id/ferry" ]
	[ "$(stat -c %a "$SSHD_DIR/agents")" = 700 ]
	cmp "$FERRY" "$SSHD_DIR/agents/$id/ferry"
	before=$(stat -c %Y.%i "$SSHD_DIR/agents/$id/ferry")
	run "$FERRY" exec -- echo again
	[ "$output" = "again" ]
	[ "$(stat -c %Y.%i "$SSHD_DIR/agents/$id/ferry")" = "$before" ]
	# no temp files left behind
	[ -z "$(find "$SSHD_DIR/agents" -name '.upload.*')" ]
}

@test "ssh: the connection is reused through a private ControlMaster" {
	"$FERRY" exec -- true
	[ "$(stat -c %a "$XDG_RUNTIME_DIR/ferry")" = 700 ]
	ls "$XDG_RUNTIME_DIR/ferry"/* >/dev/null
	sock=$(ls "$XDG_RUNTIME_DIR/ferry"/* | head -n 1)
	[ -S "$sock" ]
	ssh -o ControlPath="$sock" -O check dummy
}

@test "ssh: a different build replaces the agent" {
	[ -n "${FERRY_NEXT:-}" ] || skip "FERRY_NEXT not built"
	"$FERRY" exec -- true
	run "$FERRY_NEXT" exec -- echo next
	[ "$status" -eq 0 ]
	[ "$output" = "next" ]
	id=$("$FERRY_NEXT" agent --build-id)
	[ -x "$SSHD_DIR/agents/$id/ferry" ]
	cmp "$FERRY_NEXT" "$SSHD_DIR/agents/$id/ferry"
}

@test "ssh: argv arrives verbatim, no shell in between" { check_argv_verbatim "$T/remote"; }
@test "ssh: stdout and stderr stay separate" { check_streams; }
@test "ssh: stdin is forwarded, binary-safe" { check_stdin_binary; }
@test "ssh: exit codes and signals come back" { check_exit_codes; }
@test "ssh: runs in the project folder" { check_cwd "$T/remote"; }
@test "ssh: --shell and --env" { check_shell_and_env; }
@test "ssh: Ctrl-C reaches the command" { check_ctrl_c; }
@test "ssh: | head ends the remote command" { check_stdout_closed_early; }
@test "ssh: closed stdin, stdout or stderr" { check_closed_fds; }
@test "ssh: large arguments pipelined behind the hello" { check_big_request; }
@test "ssh: SIGTERM is forwarded, and ferry ends anyway" { check_term; }

@test "ssh: doctor reports every check ok" {
	run "$FERRY" doctor
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok    ssh client"* ]]
	[[ "$output" == *"ok    authentication    works without a prompt"* ]]
	[[ "$output" == *"ok    clock skew"* ]]
}

@test "ssh: refused port is a connection error" {
	port=$(free_port)
	write_ssh_config "$T/bad_config" "$(id -un)" "$SSHD_DIR/userkey" "$port"
	FERRY_SSH_COMMAND="ssh -F $T/bad_config" run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot connect to 'ferry-test': connection refused"* ]]
	[[ "$output" == *"hint:"* ]]
	FERRY_SSH_COMMAND="ssh -F $T/bad_config" run "$FERRY" doctor
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  host reachable"* ]]
}

@test "ssh: a wrong key is an authentication error" {
	ssh-keygen -q -t ed25519 -N '' -f "$T/otherkey"
	write_ssh_config "$T/bad_config" "$(id -un)" "$T/otherkey" "$SSHD_PORT"
	FERRY_SSH_COMMAND="ssh -F $T/bad_config" run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 77 ]
	[[ "$output" == *"authentication to 'ferry-test' failed"* ]]
	FERRY_SSH_COMMAND="ssh -F $T/bad_config" run "$FERRY" doctor
	[[ "$output" == *"ok    host reachable"* ]]
	[[ "$output" == *"fail  authentication"* ]]
}

@test "ssh: an unknown host key is refused with a hint" {
	write_ssh_config "$T/bad_config" "$(id -un)" "$SSHD_DIR/userkey" "$SSHD_PORT"
	sed -i "s|UserKnownHostsFile .*|UserKnownHostsFile $T/empty_known_hosts|" "$T/bad_config"
	: >"$T/empty_known_hosts"
	FERRY_SSH_COMMAND="ssh -F $T/bad_config" run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 77 ]
	[[ "$output" == *"host key of 'ferry-test' is not trusted"* ]]
	[[ "$output" == *'run `ssh ferry-test` once'* ]]
}

@test "ssh: diff shows the server's copy against the laptop's" {
	printf 'one\ntwo\n' >f.txt
	"$FERRY" push >/dev/null
	printf 'one\nTWO\n' >f.txt
	run "$FERRY" diff f.txt
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"-two"*"+TWO"* ]]
}

@test "ssh: an unresolvable host is a connection error" {
	sed -i 's/^host = .*/host = no-such-host.invalid/' ferry.ini
	run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot resolve host 'no-such-host.invalid'"* ]]
}

@test "ssh: a dropped connection mid-command is a distinct error" {
	"$FERRY" exec -- true
	"$FERRY" exec -- sh -c 'echo started; sleep 30' >"$T/drop.out" 2>&1 &
	pid=$!
	for i in $(seq 1 100); do
		grep -q started "$T/drop.out" && break
		sleep 0.1
	done
	# Kill the ControlMaster: the session's transport dies under it.
	sock=$(ls "$XDG_RUNTIME_DIR/ferry"/* | head -n 1)
	master=$(ssh -o ControlPath="$sock" -O check dummy 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
	[ -n "$master" ]
	kill "$master"
	rc=0
	wait "$pid" || rc=$?
	cat "$T/drop.out"
	[ "$rc" -eq 75 ]
	grep -q "connection to 'ferry-test' lost" "$T/drop.out"
}

@test "ssh: noisy shell startup files are skipped" {
	printf '#!/bin/sh\necho "Welcome to the cluster!"\nexec ssh "$@"\n' >"$T/noisy-ssh"
	chmod +x "$T/noisy-ssh"
	sed -i "s|^ssh_command = ssh|ssh_command = $T/noisy-ssh|" "$USER_CONFIG"
	run "$FERRY" exec -- echo fine
	[ "$status" -eq 0 ]
	[ "$output" = "fine" ]
	run "$FERRY" doctor
	[[ "$output" == *"warn  shell startup"*"Welcome to the cluster"* ]]
}

@test "ssh: a missing ssh client is a clear error" {
	sed -i "s|^ssh_command = .*|ssh_command = /nonexistent/ssh|" "$USER_CONFIG"
	run "$FERRY" exec -- true
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot run '/nonexistent/ssh'"* ]]
}

@test "ssh: an agent dir on a noexec filesystem is explained" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a noexec tmpfs"
	mkdir -p "$T/noexec"
	mount -t tmpfs -o noexec,size=64m tmpfs "$T/noexec" || skip "cannot mount tmpfs"
	sed -i "s|^agent_dir = .*|agent_dir = $T/noexec/agents|" ferry.ini
	run "$FERRY" exec -- true
	umount "$T/noexec"
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"noexec"* ]]
	[[ "$output" == *"agent_dir"* ]]
}

@test "ssh: a full disk while installing is explained" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir -p "$T/full"
	mount -t tmpfs -o size=256k tmpfs "$T/full" || skip "cannot mount tmpfs"
	sed -i "s|^agent_dir = .*|agent_dir = $T/full/agents|" ferry.ini
	run "$FERRY" exec -- true
	left=$(ls -A "$T/full/agents" 2>/dev/null)
	umount "$T/full"
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"disk full on ferry-test"* ]]
	[ -z "$left" ]
}

@test "ssh: 12 commands at once all run, without ssh's multiplexing notes" {
	# sshd allows 10 sessions on one connection (MaxSessions): the 11th
	# and 12th fall back to connections of their own, and ssh says so.
	"$FERRY" exec -- true
	mkdir "$T/at-once"
	pids=()
	for i in $(seq 1 12); do
		"$FERRY" exec -- sh -c 'touch "$1/$2"; n=0
			while [ "$(ls "$1" | wc -l)" -lt 12 ] && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
			echo "ok $(ls "$1" | wc -l)"' x "$T/at-once" "$i" >"$T/out.$i" 2>"$T/err.$i" &
		pids+=($!)
	done
	bad=0
	for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
	cat "$T"/out.* "$T"/err.*
	[ "$bad" = 0 ]
	[ "$(cat "$T"/out.* | sort -u)" = "ok 12" ]
	! grep -E 'mux_client|muxclient|ControlSocket|multiplexing' "$T"/err.*
	[ -z "$(cat "$T"/err.*)" ]
}
