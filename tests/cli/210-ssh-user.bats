#!/usr/bin/env bats
# The ssh path as an ordinary user: client and server side both unprivileged
# (sshd itself runs as root, as on a real server).

load helpers

U=ferrytest

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root to create the test user"
	ensure_test_user "$U"
	export SSHD_TOP UHOME
	UHOME=$(getent passwd "$U" | cut -d: -f6)
	SSHD_TOP=$(mktemp -d /tmp/fu.XXXXXX)
	chmod 755 "$SSHD_TOP"
	# The user's own cache, not the suite's shared one.
	SSHD_EXTRA=$(printf 'Match User %s\n\tSetEnv XDG_CACHE_HOME=%s/.cache' "$U" "$UHOME")
	start_sshd "$SSHD_TOP"
	cp "$SSHD_DIR/userkey" "$SSHD_TOP/ukey"
	chown "$U" "$SSHD_TOP/ukey"
	chmod 600 "$SSHD_TOP/ukey"
	write_ssh_config "$SSHD_TOP/ussh_config" "$U" "$SSHD_TOP/ukey" "$SSHD_PORT"
	chmod 644 "$SSHD_TOP/ussh_config" "$SSHD_DIR/known_hosts"
	# A copy of the binary the user can run and upload.
	cp "$FERRY" "$SSHD_TOP/ferry"
	chmod 755 "$SSHD_TOP/ferry"
	export SSHD_DIR SSHD_PORT SSHD_PID
}

teardown_file() {
	[ "$(id -u)" = 0 ] || return 0
	stop_sshd
	rm -rf "$SSHD_TOP"
}

setup() {
	W=$(mktemp -d /tmp/fw.XXXXXX)
	chown "$U" "$W"
	rm -rf "$UHOME/.cache/ferry" "$UHOME/uproj"
}

teardown() {
	asuser sh -c 'for s in $XDG_RUNTIME_DIR/ferry/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true'
	rm -rf "$W"
}

# Runs a command as the user, in their project, with their own runtime dir.
asuser() {
	runuser -u "$U" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$UHOME" USER="$U" \
		XDG_RUNTIME_DIR="$W/run" FERRY_SSH_COMMAND="ssh -F $SSHD_TOP/ussh_config" \
		sh -c 'mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" && mkdir -p "$0" && cd "$0" && exec "$@"' "$W/proj" "$@"
}

@test "user: first contact installs the agent in the user's cache" {
	asuser "$SSHD_TOP/ferry" init ferry-test:uproj
	run asuser "$SSHD_TOP/ferry" exec -- sh -c 'id -un; pwd'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n%s' "$U" "$UHOME/uproj")" ]
	id=$("$SSHD_TOP/ferry" agent --build-id)
	[ -x "$UHOME/.cache/ferry/agent/$id/ferry" ]
	[ "$(stat -c %U "$UHOME/.cache/ferry/agent/$id/ferry")" = "$U" ]
	[ "$(stat -c %a "$UHOME/.cache/ferry/agent")" = 700 ]
}

@test "user: argv, stdin and exit codes" {
	asuser "$SSHD_TOP/ferry" init ferry-test:uproj
	run asuser "$SSHD_TOP/ferry" exec -- printf '[%s]' 'a b' '$(id)' ';' ''
	[ "$output" = '[a b][$(id)][;][]' ]
	run asuser sh -c "printf 'x\ny\n' | '$SSHD_TOP/ferry' exec -- wc -l"
	[ "$output" = 2 ]
	run asuser "$SSHD_TOP/ferry" exec -- sh -c 'exit 9'
	[ "$status" -eq 9 ]
}

@test "user: doctor is all ok" {
	asuser "$SSHD_TOP/ferry" init ferry-test:uproj
	run asuser "$SSHD_TOP/ferry" doctor
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok    agent"* ]]
	[[ "$output" == *"ok    authentication"* ]]
}

@test "user: doctor says when the project folder cannot be created (/opt/...)" {
	asuser "$SSHD_TOP/ferry" init ferry-test:/opt/ferry-no-such-proj/p
	run asuser "$SSHD_TOP/ferry" doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  remote path"*"/opt/ferry-no-such-proj/p does not exist and cannot be created: /opt is not writable"* ]]
}

@test "user: another user's control directory is refused" {
	mkdir -p "$W/run"
	chown "$U" "$W/run"
	chmod 700 "$W/run"
	mkdir "$W/run/ferry"
	run asuser "$SSHD_TOP/ferry" init ferry-test:uproj
	# the runtime dir's ferry/ belongs to root: not ours
	run asuser "$SSHD_TOP/ferry" exec -- true
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"owned by another user"* ]]
}
