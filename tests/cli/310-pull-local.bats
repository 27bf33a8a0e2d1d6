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
