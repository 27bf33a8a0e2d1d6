#!/usr/bin/env bats
# A project file runs nothing by itself: a cloned ferry.ini that names
# ssh_command is used only after `ferry trust`, and again only until it
# changes; the user's own file (~/.config/ferry/config.ini) and
# FERRY_SSH_COMMAND need no trust.  No sshd: each "ssh" here is a script
# that leaves a marker file and fails.

load helpers

setup() {
	common_setup
	for n in evil mine env other; do
		printf '#!/bin/sh\ntouch "%s/ran-%s"\nexit 255\n' "$T" "$n" >"$T/$n-ssh"
		chmod +x "$T/$n-ssh"
	done
	# The repository someone else wrote, cloned.
	mkdir "$T/upstream"
	(cd "$T/upstream" && git init -q . &&
		printf '[target]\ntype = ssh\nhost = box\npath = ~/p\nssh_command = %s\n' "$T/evil-ssh" >ferry.ini &&
		git add ferry.ini && git -c user.name=t -c user.email=t@t commit -qm init)
	cd "$T" && rm -rf proj && git clone -q "$T/upstream" proj && cd proj
	mkdir -p "${USER_CONFIG%/*}"
}

teardown() {
	common_teardown
}

ran() { [ -e "$T/ran-$1" ]; }

@test "trust: no command runs a cloned ferry.ini's ssh_command before ferry trust" {
	local c
	for c in "exec -- true" "push" "pull" "status" "jobs" "run -- true" "logs 1" "kill 1" \
		"wait 1" "diff ferry.ini" "config"; do
		run $FERRY $c
		echo "$c: $status $output"
		[ "$status" -eq 78 ]
		[[ "$output" == *"ferry.ini:5 sets target.ssh_command, which runs a program on this computer, and you have not trusted this file"*"hint: run \`ferry trust\` to see what it runs and allow it"* ]]
		! ran evil
	done
	# The terminal ones, under a terminal.
	for c in "shell" "attach 1" "top"; do
		run script -qec "$FERRY $c" /dev/null </dev/null
		echo "$c: $status $output"
		[[ "$output" == *"sets target.ssh_command"*"ferry trust"* ]]
		! ran evil
	done
	run "$FERRY" doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  project file"*"target.ssh_command"*"ferry trust"* ]]
	! ran evil
}

@test "trust: ferry trust shows the program, records it, and then it runs" {
	run "$FERRY" trust
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"line 5    target.ssh_command = $T/evil-ssh"* ]]
	[[ "$output" == *"trusted"* ]]
	! ran evil
	run "$FERRY" exec -- true
	[ "$status" -ne 78 ]
	ran evil
	run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"target.ssh_command  $T/evil-ssh"*"ferry.ini:5 (trusted)"* ]]
	run "$FERRY" trust --list
	[ "$status" -eq 0 ]
	[[ "$output" == *"$T/proj/ferry.ini"*"target.ssh_command = $T/evil-ssh"* ]]
	# The record is private.
	[ "$(stat -c %a "$HOME/.local/state/ferry/trusted")" = 600 ]
	[ "$(stat -c %a "$HOME/.local/state/ferry")" = 700 ]
	run "$FERRY" trust
	[[ "$output" == *"already trusted"* ]]
}

@test "trust: an edited ferry.ini is untrusted again; --revoke takes trust back" {
	"$FERRY" trust >/dev/null
	echo '# a harmless-looking change' >>ferry.ini
	run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"changed since you trusted it"* ]]
	! ran evil
	"$FERRY" trust >/dev/null
	run "$FERRY" trust --revoke
	[ "$status" -eq 0 ]
	[[ "$output" == *"is no longer trusted"* ]]
	run "$FERRY" push
	[ "$status" -eq 78 ]
	! ran evil
	run "$FERRY" trust --list
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "trust: the same file in another folder is not trusted" {
	"$FERRY" trust >/dev/null
	git clone -q "$T/upstream" "$T/proj2"
	run "$FERRY" -C "$T/proj2" exec -- true
	[ "$status" -eq 78 ]
	! ran evil
}

@test "trust: a ferry.ini without program keys needs no trust" {
	sed -i '/^ssh_command/d' ferry.ini
	run "$FERRY" trust
	[ "$status" -eq 0 ]
	[[ "$output" == *"names no program to run on this computer: nothing to trust"* ]]
	run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"target.ssh_command  ssh"*"default"* ]]
}

@test "trust: the user's file gives ssh_command per host, with no trust" {
	sed -i '/^ssh_command/d' ferry.ini
	printf '[target]\nssh_command = %s\n[host "box"]\nssh_command = %s\n[host "other"]\nssh_command = %s\n' \
		"$T/other-ssh" "$T/mine-ssh" "$T/other-ssh" >"$USER_CONFIG"
	run "$FERRY" exec -- true
	[ "$status" -ne 78 ]
	ran mine
	! ran other
	run "$FERRY" config
	[[ "$output" == *"user file           $USER_CONFIG"* ]]
	[[ "$output" == *"target.ssh_command  $T/mine-ssh"*"$USER_CONFIG:4"* ]]
	# A [project] section beats ferry.ini, even an untrusted one.
	git checkout -q ferry.ini
	printf '[project "%s"]\nssh_command = %s\n' "$T/proj" "$T/mine-ssh" >"$USER_CONFIG"
	rm -f "$T/ran-mine"
	run "$FERRY" exec -- true
	[ "$status" -ne 78 ]
	ran mine
	! ran evil
}

@test "trust: a user file others may write, or not yours, is refused" {
	sed -i '/^ssh_command/d' ferry.ini
	printf '[host "box"]\nssh_command = %s\n' "$T/mine-ssh" >"$USER_CONFIG"
	chmod 664 "$USER_CONFIG"
	run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"'$USER_CONFIG' is writable by group or others, so ferry does not use it"* ]]
	! ran mine
	chmod 644 "$USER_CONFIG"
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$USER_CONFIG"
		run "$FERRY" config
		[ "$status" -eq 78 ]
		[[ "$output" == *"is owned by another user"* ]]
		chown 0 "$USER_CONFIG"
	fi
	run "$FERRY" exec -- true
	[ "$status" -ne 78 ]
	ran mine
}

@test "trust: a bad user file names file and line" {
	printf '[target]\nhost = x\n' >"$USER_CONFIG"
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"$USER_CONFIG:2: 'host' belongs in a project's ferry.ini"* ]]
}

@test "trust: FERRY_SSH_COMMAND beats the user's file and ferry.ini" {
	printf '[host "box"]\nssh_command = %s\n' "$T/mine-ssh" >"$USER_CONFIG"
	FERRY_SSH_COMMAND="$T/env-ssh" run "$FERRY" exec -- true
	[ "$status" -ne 78 ]
	ran env
	! ran mine
	! ran evil
	FERRY_SSH_COMMAND="$T/env-ssh" run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"target.ssh_command  $T/env-ssh"*"FERRY_SSH_COMMAND"* ]]
}

@test "trust: ferry config shows each origin" {
	printf '[target]\nagent_dir = /scratch/me\n' >"$USER_CONFIG"
	run "$FERRY" config
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"target.host         box"*"ferry.ini:3"* ]]
	[[ "$output" == *"target.ssh_command  $T/evil-ssh"*"ferry.ini:5 (NOT trusted: ferry trust)"* ]]
	[[ "$output" == *"target.agent_dir    /scratch/me"*"$USER_CONFIG:2"* ]]
	[[ "$output" == *"sync.push           ."*"default"* ]]
	! ran evil
}

@test "trust: help" {
	run "$FERRY" help
	[[ "$output" == *"trust"*"ssh_command"* ]]
	run "$FERRY" trust --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: ferry trust"*"--revoke"*"--list"* ]]
	run "$FERRY" trust --bogus
	[ "$status" -eq 64 ]
}
