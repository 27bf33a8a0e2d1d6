#!/usr/bin/env bats
# Issue 24 row 1: a project folder another server user can write.  The
# user (ferrytest) runs ferry over the real sshd; root plays the other
# user of the server, who can write the shared folder.

load helpers

U=ferrytest

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root to create the test user"
	ensure_test_user "$U"
	export SSHD_TOP UHOME
	UHOME=$(getent passwd "$U" | cut -d: -f6)
	SSHD_TOP=$(mktemp -d /tmp/fs.XXXXXX)
	chmod 755 "$SSHD_TOP"
	SSHD_EXTRA=$(printf 'Match User %s\n\tSetEnv XDG_CACHE_HOME=%s/.cache' "$U" "$UHOME")
	start_sshd "$SSHD_TOP"
	cp "$SSHD_DIR/userkey" "$SSHD_TOP/ukey"
	chown "$U" "$SSHD_TOP/ukey"
	chmod 600 "$SSHD_TOP/ukey"
	write_ssh_config "$SSHD_TOP/ussh_config" "$U" "$SSHD_TOP/ukey" "$SSHD_PORT"
	chmod 644 "$SSHD_TOP/ussh_config" "$SSHD_DIR/known_hosts"
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
	# The lab's folder: sticky and open to all, like /tmp; the project
	# in it is the user's, but writable by every user.
	LAB=$(mktemp -d /tmp/flab.XXXXXX)
	chmod 1777 "$LAB"
	mkdir "$LAB/proj"
	chown "$U" "$LAB/proj"
	chmod 777 "$LAB/proj"
	MARK=$(mktemp -u /tmp/fmark.XXXXXX)
	rm -rf "$UHOME/.local/state/ferry"
	asuser sh -c 'echo "print(\"trained\")" >train.py; printf "#!/bin/sh\necho code-ran\n" >run.sh'
}

teardown() {
	asuser sh -c 'for s in $XDG_RUNTIME_DIR/ferry/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true'
	rm -rf "$W" "$LAB" "$MARK"
}

asuser() {
	runuser -u "$U" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$UHOME" USER="$U" \
		XDG_RUNTIME_DIR="$W/run" FERRY_SSH_COMMAND="ssh -F $SSHD_TOP/ussh_config" \
		sh -c 'mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" && mkdir -p "$0" && cd "$0" && exec "$@"' "$W/proj" "$@"
}

@test "shared: a folder others can write is refused until ferry.ini says shared = yes" {
	asuser "$SSHD_TOP/ferry" init "ferry-test:$LAB/proj"
	run asuser "$SSHD_TOP/ferry" push
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"project folder '$LAB/proj': '$LAB/proj' is writable by every user"* ]]
	[[ "$output" == *"shared = yes"* ]]
	run asuser "$SSHD_TOP/ferry" run -- sh run.sh
	[ "$status" -eq 78 ]
	# Writable by its group only: the same.
	chmod 775 "$LAB/proj"
	run asuser "$SSHD_TOP/ferry" push
	[ "$status" -eq 78 ]
	[[ "$output" == *"is writable by its group"* ]]
	# Declared: it works, and ferry keeps nothing of its own in the folder.
	asuser sed -i 's/^\[target\]$/[target]\nshared = yes/' ferry.ini
	run asuser "$SSHD_TOP/ferry" config
	[[ "$output" == *"target.shared"*"yes"* ]]
	run asuser "$SSHD_TOP/ferry" run -f -- sh run.sh
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *code-ran* ]]
	[ ! -e "$LAB/proj/.ferry/snap" ]
	ls -d "$UHOME"/.local/state/ferry/roots/*/snap/*/
	[ "$(stat -c %a "$UHOME"/.local/state/ferry/roots/*/snap)" = 700 ]
}

@test "shared: a folder above the project that others can write, not sticky" {
	chmod 777 "$LAB"
	chmod 755 "$LAB/proj"
	asuser "$SSHD_TOP/ferry" init "ferry-test:$LAB/proj"
	run asuser "$SSHD_TOP/ferry" push
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"'$LAB' is writable by every user"* ]]
}

@test "shared: code another user swapped in is never run, and the job says why" {
	asuser "$SSHD_TOP/ferry" init "ferry-test:$LAB/proj"
	asuser sed -i 's/^\[target\]$/[target]\nshared = yes/' ferry.ini
	run asuser "$SSHD_TOP/ferry" push
	[ "$status" -eq 0 ]
	# The other user replaces run.sh in the shared folder (a rename, as
	# the folder allows), and plants a snapshot where older ferry kept them.
	printf '#!/bin/sh\ntouch %s\necho evil-ran\n' "$MARK" >"$LAB/proj/.run.new"
	mv -f "$LAB/proj/.run.new" "$LAB/proj/run.sh"
	# The push before the run sees it first: a conflict, no job.
	run asuser "$SSHD_TOP/ferry" run -f -- sh run.sh
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"conflict: run.sh: changed on the server since the last push"* ]]
	[[ "$output" == *"no job started"* ]]
	[ ! -e "$MARK" ]
	# Without the push, the snapshot refuses it.
	run asuser "$SSHD_TOP/ferry" run --no-push -f -- sh run.sh
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'run.sh' in the project folder is not yours (it belongs to uid 0)"* ]]
	[[ "$output" == *"ferry push --force run.sh"* ]]
	[ ! -e "$MARK" ]
	# A push puts the user's own back (with --force: it changed there).
	run asuser "$SSHD_TOP/ferry" push --force run.sh
	echo "$output"
	[ "$status" -eq 0 ]
	run asuser "$SSHD_TOP/ferry" run -f -- sh run.sh
	[ "$status" -eq 0 ]
	[[ "$output" == *code-ran* ]]
	# Swapped again after a job: the snapshot made then is the code.
	printf '#!/bin/sh\ntouch %s\necho evil-ran\n' "$MARK" >"$LAB/proj/.run.new"
	mv -f "$LAB/proj/.run.new" "$LAB/proj/run.sh"
	run asuser "$SSHD_TOP/ferry" run --no-push -f -- sh run.sh
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *code-ran* ]]
	[ ! -e "$MARK" ]
}

@test "shared: another user's names are not linked into the job's folder" {
	asuser "$SSHD_TOP/ferry" init "ferry-test:$LAB/proj"
	asuser sed -i 's/^\[target\]$/[target]\nshared = yes/' ferry.ini
	asuser "$SSHD_TOP/ferry" push
	printf 'import os; open("%s","w")\n' "$MARK" >"$LAB/proj/sitecustomize.py"
	asuser sh -c "mkdir -p data && echo 1 >data/x"
	run asuser "$SSHD_TOP/ferry" run -f -- sh -c 'ls; cat data/x'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *sitecustomize* ]]
	[[ "$output" == *run.sh* ]]
}

@test "private: the snapshot swap of issue 24 row 1 cannot happen, a bad snapshot is made again" {
	chmod 755 "$LAB/proj"
	asuser "$SSHD_TOP/ferry" init "ferry-test:$LAB/proj"
	run asuser "$SSHD_TOP/ferry" run -f -- sh run.sh
	[ "$status" -eq 0 ]
	snap=$(ls -d "$LAB"/proj/.ferry/snap/*/ | head -1)
	[ "$(stat -c %U "$snap")" = "$U" ]
	# Made writable by others (an older ferry, a chmod): never reused.
	chmod 777 "$snap"
	printf '#!/bin/sh\ntouch %s\n' "$MARK" >"$snap/run.sh.new"
	mv -f "$snap/run.sh.new" "$snap/run.sh"
	run asuser "$SSHD_TOP/ferry" run -f -- sh run.sh
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *code-ran* ]]
	[ ! -e "$MARK" ]
	[ "$(stat -c %a "$snap")" != 777 ]
}
