#!/usr/bin/env bats
# ferry pull against the local target.

load helpers
load pull-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() { common_teardown; }

@test "pull: results round-trip (names, modes, mtimes, symlinks, empty folders), then incremental" { check_pull_roundtrip; }
@test "pull: conflicts, --dry-run, --force; local files never deleted" { check_pull_conflicts; }
@test "pull: FOLDER arguments, nothing outside the pull folders, mass-deletion guard" { check_pull_scope_and_guard; }
@test "pull: only changes travel; local edits are kept, local deletes are pulled again" { check_pull_changes_only; }
@test "pull: a nested pull folder, and a FOLDER below a pull folder" { check_pull_nested; }
@test "pull: kill -9 mid-pull leaves no partial file; next pull completes" { check_pull_kill; }

@test "pull: --dry-run changes nothing; --json; --progress" {
	mkdir -p "$R/results"
	for i in $(seq 1 5); do head -c 100000 /dev/urandom >"$R/results/f$i"; done
	run "$FERRY" pull --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"receive results/f1 (100000 bytes)"* ]]
	[[ "$output" == *"dry run: 5 to receive, 0 to delete, 0 conflicts"* ]]
	[ ! -e results ]
	run --separate-stderr "$FERRY" pull --progress --quiet
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"pull: 5/5 files, 0.5/0.5 MB"* ]]
	echo more >>"$R/results/f1"
	run "$FERRY" pull --json
	[ "$status" -eq 0 ]
	# a delta: the 100005 bytes are mostly copied from the old version
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["written"]==1 and d["bytes"]==100005 and d["bytes_received"]<20000, d'
}

@test "pull: a missing remote project or pull folder" {
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"cannot use project folder"* ]]
	mkdir -p "$R"
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
}

@test "pull: a full disk here is reported, nothing partial" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir -p "$R/results" results
	mount -t tmpfs -o size=512k tmpfs results || skip "cannot mount tmpfs"
	head -c 300000 /dev/urandom >"$R/results/small.bin"
	head -c 400000 /dev/urandom >"$R/results/big.bin"
	run "$FERRY" pull
	left=$(find results -name '.ferry-tmp.*' | wc -l)
	partial=0
	[ -e results/big.bin ] && ! cmp -s results/big.bin "$R/results/big.bin" && partial=1
	umount results
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"disk full here while writing 'results/"* ]]
	[ "$left" -eq 0 ]
	[ "$partial" -eq 0 ]
}

@test "pull: an unreadable file on the server is reported, the rest is pulled" {
	mkdir -p "$R/results"
	echo a >"$R/results/a.txt"
	echo secret >"$R/results/secret.txt"
	chmod 000 "$R/results/secret.txt"
	run no_dac "$FERRY" pull
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"on local: cannot read 'results/secret.txt'"* ]]
	[ -e results/a.txt ]
}

@test "pull: a push and a pull never touch each other's folders" {
	mkdir -p src results
	echo code >src/main.py
	echo mine >results/local.txt
	"$FERRY" push >/dev/null
	[ ! -e "$R/results/local.txt" ]
	mkdir -p "$R/results"
	echo server >"$R/results/out.txt"
	echo edited-there >"$R/src/main.py"
	"$FERRY" pull >/dev/null
	[ "$(cat src/main.py)" = code ]
	[ "$(cat results/out.txt)" = server ]
	[ "$(cat results/local.txt)" = mine ]
}

@test "pull: a large file with a few KB changed goes as a delta" { check_pull_delta; }
@test "pull: nothing is compressed on the local target" { check_pull_not_compressed; }

@test "pull: setuid, setgid, sticky and world-writable modes from the server never land here" {
	mkdir -p "$R/results/shared"
	printf '#!/bin/sh\n' >"$R/results/tool"
	echo x >"$R/results/shared/f"
	chmod 6777 "$R/results/tool"
	chmod 3777 "$R/results/shared" "$R/results"
	umask 022
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a results/tool)" = 755 ]
	[ "$(stat -c %a results/shared)" = 755 ]
	[ "$(stat -c %a results)" = 755 ]
	# the modes as placed are what ferry expects: the next pull is quiet
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	# a stricter umask here is honoured too
	rm -rf results
	umask 077
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[ "$(stat -c %a results/tool)" = 700 ]
	[ "$(stat -c %a results/shared/f)" = 600 ]
}

# Only what lies outside .ferry, as "a b c".
project_files() {
	find . -path ./.ferry -prune -o -print | sort | tr '\n' ' '
}

@test "pull: a pull folder that is your symlink to your own folder is followed" {
	mkdir -p "$T/big" "$R/results/run1"
	chmod 700 "$T/big"
	echo a >"$R/results/a.txt"
	echo m >"$R/results/run1/m.txt"
	echo old >"$R/results/gone.txt"
	ln -s ../big results
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 3, deleted 0, 0 conflicts"* ]]
	[ "$(readlink results)" = ../big ]
	[ "$(cat "$T/big/a.txt")" = a ] && [ "$(cat "$T/big/run1/m.txt")" = m ]
	# the folder is the user's: its mode stays theirs
	[ "$(stat -c %a "$T/big")" = 700 ]
	[ "$(project_files)" = ". ./ferry.ini ./results " ]
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	# deleted on the server, deleted there as from a real folder
	rm "$R/results/gone.txt"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pulled 0, deleted 1, 0 conflicts"* ]]
	[ ! -e "$T/big/gone.txt" ]
	# an edit there is a conflict as usual, and dry runs change nothing
	echo mine >"$T/big/a.txt"
	echo theirs >"$R/results/a.txt"
	echo new >"$R/results/run1/new.txt"
	run "$FERRY" pull --dry-run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"receive results/run1/new.txt"* ]]
	[[ "$output" == *"conflict: results/a.txt: changed on the laptop since the last pull"* ]]
	[ ! -e "$T/big/run1/new.txt" ]
	# a FOLDER argument below the link
	run "$FERRY" pull results/run1
	[ "$status" -eq 0 ]
	[ "$(cat "$T/big/run1/new.txt")" = new ]
	run "$FERRY" pull
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: results/a.txt: changed on the laptop since the last pull"* ]]
	[ "$(cat "$T/big/a.txt")" = mine ]
	run "$FERRY" pull --force results/a.txt
	[ "$status" -eq 0 ]
	[ "$(cat "$T/big/a.txt")" = theirs ]
	# a symlink inside it is never followed
	mkdir -p "$T/elsewhere" "$R/results/sub"
	echo x >"$R/results/sub/x.txt"
	ln -s "$T/elsewhere" "$T/big/sub"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"results/sub"*"a file is where the folder goes"* ]]
	[ -z "$(ls -A "$T/elsewhere")" ]
	[ "$(readlink results)" = ../big ]
	[ "$(project_files)" = ". ./ferry.ini ./results " ]
	[ -z "$(find "$T/big" -name '.ferry-tmp.*')" ]
}

@test "pull: a nested pull folder that is your symlink is followed; the folders above it are not" {
	sed -i 's/^# pull = results/pull = out\/results/' ferry.ini
	mkdir -p "$T/big" "$R/out/results" out
	echo a >"$R/out/results/a.txt"
	ln -s ../../big out/results
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$T/big/a.txt")" = a ]
	# a symlink above the pull folder: as ever, not followed
	rm -r out "$T/big/a.txt"
	mkdir -p "$T/up/results"
	ln -s ../up out
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 71 ]
	[ -z "$(ls -A "$T/up/results")" ]
}

@test "pull: a pull folder that is a symlink not of your choosing is not followed, and says why" {
	mkdir -p "$R/results"
	echo a >"$R/results/a.txt"
	echo x >file
	ln -s ../nowhere results
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to ../nowhere, which does not exist: not followed"* ]]
	[[ "$output" == *"cannot write 'results/a.txt': results is a symlink to ../nowhere, which does not exist: not followed"* ]]
	[ "$(readlink results)" = ../nowhere ] && [ ! -e "$T/nowhere" ]
	rm results
	ln -s file results
	run "$FERRY" pull --force
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to file, which is not a folder: not followed"* ]]
	[ "$(readlink results)" = file ] && [ "$(cat file)" = x ]
	# a folder in the project, or above it: a pull writes only pull folders
	rm results
	ln -s . results
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to ., which is inside the project folder: not followed"* ]]
	[ ! -e a.txt ]
	rm results
	ln -s .. results
	run "$FERRY" pull
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to .., which holds the project folder: not followed"* ]]
	[ ! -e "$T/a.txt" ]
	[ "$(id -u)" = 0 ] || skip "needs root to give a symlink or folder to another user"
	rm results
	mkdir -p "$T/big"
	ln -s ../big results
	chown -h nobody results
	run "$FERRY" pull --force
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to ../big, owned by another user: not followed"* ]]
	[ -z "$(ls -A "$T/big")" ] && [ -L results ]
	rm results
	ln -s ../big results
	chown nobody "$T/big"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 71 ]
	[[ "$output" == *"conflict: results: a symlink to ../big, which is not your folder: not followed"* ]]
	[ -z "$(ls -A "$T/big")" ]
}

@test "pull: through a followed pull folder symlink, kill -9 leaves no partial file; deltas work" {
	mkdir -p "$T/big"
	ln -s ../big results
	check_pull_kill
	[ -z "$(find "$T/big" -name '.ferry-tmp.*')" ]
	[ "$(readlink results)" = ../big ]
	rm -f "$R"/results/f*.bin
	"$FERRY" pull --force >/dev/null
	[ -z "$(ls -A "$T/big")" ]
	check_pull_delta
	[ "$(readlink results)" = ../big ]
}
