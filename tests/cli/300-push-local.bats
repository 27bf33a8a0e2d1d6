#!/usr/bin/env bats
# ferry push against the local target.

load helpers
load push-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() { common_teardown; }

@test "push: tree round-trips (names, modes, mtimes, symlinks, empty folders), then incremental" { check_push_roundtrip; }
@test "push: conflicts in both directions, --dry-run, --force" { check_push_conflicts; }
@test "push: mass-deletion guard; pull folders untouched" { check_push_guard_and_pull_folders; }
@test "push: kill -9 mid-push leaves no partial file; next push completes" { check_push_concurrent_and_kill; }
@test "push: only changes travel; remote edits still conflict, remote deletes are re-sent" { check_push_changes_only; }
@test "push: a stale base falls back to the full manifest" { check_push_base_mismatch; }
@test "push: a lost agent index: full manifest, nothing unknown deleted" { check_push_index_lost; }

@test "push: a second push of the same target waits its turn" {
	for i in $(seq 1 200); do head -c 20000 /dev/urandom >"f$i"; done
	"$FERRY" push >"$T/p1" 2>&1 &
	p1=$!
	sleep 0.05
	run "$FERRY" push
	wait "$p1"
	# the second one waited for the first, then found nothing to do
	[ "$status" -eq 0 ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[[ "$output" == "pushed 0, deleted 0"* ]]
}

@test "push: a full disk on the server is reported, nothing partial" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	mkdir -p "$R"
	mount -t tmpfs -o size=512k,mode=755 tmpfs "$R" || skip "cannot mount tmpfs"
	head -c 300000 /dev/urandom >small.bin
	head -c 400000 /dev/urandom >big.bin
	run "$FERRY" push
	ls -la "$R"
	left=$(find "$R" -name '.ferry-tmp.*' | wc -l)
	partial=0
	[ -e "$R/big.bin" ] && ! cmp -s big.bin "$R/big.bin" && partial=1
	umount "$R"
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"disk full on local while writing '"* ]]
	[ "$left" -eq 0 ]
	[ "$partial" -eq 0 ]
}

@test "push: unreadable local file is reported, the rest is pushed" {
	echo a >a.txt
	echo secret >secret.txt
	chmod 000 secret.txt
	run no_dac "$FERRY" push
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read 'secret.txt'"* ]]
	[ -e "$R/a.txt" ]
}

@test "push: a folder on the server it may not write into is reported, the rest is pushed" {
	mkdir sub
	echo a >a.txt
	echo b >sub/b.txt
	"$FERRY" push >/dev/null
	echo a2 >a.txt
	echo b2 >sub/b.txt
	echo c >sub/c.txt
	chmod 555 "$R/sub"
	run no_dac "$FERRY" push
	chmod 755 "$R/sub"
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"cannot write 'sub/b.txt' on local: Permission denied"* ]]
	[[ "$output" == *"cannot write 'sub/c.txt' on local: Permission denied"* ]]
	[ "$(cat "$R/a.txt")" = a2 ] && [ "$(cat "$R/sub/b.txt")" = b ] && [ ! -e "$R/sub/c.txt" ]
	[ -z "$(find "$R" -name '.ferry-tmp.*')" ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	trees_equal
}

@test "push: --dry-run changes nothing, and only ferry's own temp files are swept" {
	mkdir -p "$R"
	echo keep >"$R/.ferry-tmp.999999.notes"
	echo a >a.txt
	run "$FERRY" push --dry-run
	[ "$status" -eq 0 ]
	[ ! -e "$R/a.txt" ]
	[ -e "$R/.ferry-tmp.999999.notes" ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[ -e "$R/.ferry-tmp.999999.notes" ]
}

@test "push: --progress prints one progress line, --quiet nothing" {
	for i in $(seq 1 5); do head -c 100000 /dev/urandom >"f$i"; done
	run --separate-stderr "$FERRY" push --progress
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"push: 5/5 files, 0.5/0.5 MB"* ]]  # the 5 files (ferry.ini is never pushed)
	echo more >>f1
	run --separate-stderr "$FERRY" push --quiet
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "push --json and usage" {
	echo a >a.txt
	run "$FERRY" push --json
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["written"]>=1 and d["conflicts"]==0'
	run "$FERRY" push extra
	[ "$status" -eq 64 ]
}

@test "push: a large file with a few KB changed goes as a delta" { check_push_delta; }
@test "push: nothing is compressed on the local target" { check_push_not_compressed; }

@test "push: a few changes go to the index logs; a large file goes as a delta and its old version is freed after the session" {
	for i in $(seq 1 300); do echo "$i" >"f$i"; done
	head -c 20000000 /dev/urandom >big.bin
	touch -d '2 hours ago' f* big.bin	# not racily clean: no re-logging
	"$FERRY" push >/dev/null
	agent_ix=$(echo "$HOME"/.local/state/ferry/roots/*/push.index)
	client_ix=$(echo .ferry/*/push.index)
	[ -f "$agent_ix" ] && [ -f "$client_ix" ]
	[ ! -e "$agent_ix.log" ] && [ ! -e "$client_ix.log" ]
	ix_before=$(stat -c %Y.%s "$agent_ix")

	# one small change: a log group on each side, the index files untouched
	echo changed >f7
	scribble big.bin 10000000 4000
	old_ino=$(stat -c %i "$R/big.bin")
	run "$FERRY" push --json
	[ "$status" -eq 0 ]
	# big.bin went as a delta against the signature the agent made while
	# the laptop hashed it (SYNC_HINT)
	json_check 'd["written"] == 2 and d["bytes_sent"] < 200000'
	trees_equal
	[ -s "$agent_ix.log" ] && [ -s "$client_ix.log" ]
	[ "$(stat -c %Y.%s "$agent_ix")" = "$ix_before" ]
	[ "$(stat -c %i "$R/big.bin")" != "$old_ino" ]
	# the old version is held by no process for long (the agent's child
	# drops it once the agent is gone)
	for _ in $(seq 1 50); do
		ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q "$R/big.bin (deleted)" || break
		sleep 0.1
	done
	! ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q "$R/big.bin (deleted)"

	# what the logs say is what the next push relies on: a no-op, then
	# a remote edit of a logged file is still a conflict
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 0'
	echo "server edit" >"$R/f7"
	echo "laptop edit" >f7
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: f7: changed on the server"* ]]

	# a deleted file leaves the index through the log too
	rm f9
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[ ! -e "$R/f9" ]
	run "$FERRY" push --force
	[ "$status" -eq 0 ]
	trees_equal
}

@test "push: files are counted the same way by the dry run, push, ls-files and status" {
	mkdir -p src/a/b data
	for i in 1 2 3 4 5; do echo "$i" >"src/a/b/f$i.py"; done
	echo x >README
	ln -s README link
	printf 'data/\n' >.gitignore
	echo d >data/x
	n=$("$FERRY" ls-files | wc -l)
	[ "$n" = 8 ]	# .gitignore, README, link, five .py: no folders, no ferry.ini
	run "$FERRY" push --dry-run
	[[ "${lines[-1]}" == "dry run: 8 to send, 0 to delete, 0 conflicts" ]]
	run "$FERRY" push
	[[ "$output" == "pushed 8, deleted 0, 0 conflicts (8 in the push set,"* ]]
	echo y >>README
	ln -s src link2
	touch src/a/new.py
	run "$FERRY" push --dry-run
	[[ "${lines[-1]}" == "dry run: 3 to send, 0 to delete, 0 conflicts" ]]
	run "$FERRY" status --json
	echo "$output" | python3 -c 'import json,sys; s=json.load(sys.stdin)["sync"]; assert s["send"] == 3 and s["delete"] == 0, s'
	run "$FERRY" push
	[[ "$output" == "pushed 3, deleted 0, 0 conflicts (10 in the push set,"* ]]
	echo server >"$R/README"
	echo laptop >README
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[[ "$output" == *"pushed 0, deleted 0, 1 conflict ("* ]]
	[[ "$output" == *'`ferry diff PATH` shows both sides'* ]]
}

@test "push: a full disk in the server's state folder names the file" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
	roots="$HOME/.local/state/ferry/roots"
	mkdir -p "$roots"
	chmod 700 "$HOME/.local/state/ferry"
	# inodes for the project's state folder, its lock and its journal,
	# none for the index's temp file
	mount -t tmpfs -o size=1m,nr_inodes=4,mode=700 tmpfs "$roots" || skip "cannot mount tmpfs"
	echo x >a.txt
	run "$FERRY" push
	umount "$roots"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"disk full on local while writing '$roots/"*"/push.index'"* ]]
	[[ "$output" != *"writing ''"* ]]
}

@test "push: setuid, setgid, sticky and world-writable modes from the laptop never land on the server" {
	mkdir -p tools
	printf '#!/bin/sh\n' >tools/run.sh
	echo x >tools/data
	chmod 6777 tools/run.sh
	chmod 2666 tools/data
	chmod 3777 tools
	umask 022	# the local target's agent inherits it
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$R/tools" "$R/tools/run.sh" "$R/tools/data")" = "$(printf '755\n755\n644')" ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[[ "$output" == "pushed 0, deleted 0, 0 conflicts"* ]]
}

@test "push: modes the server's umask changes (0664 under 022) still give changes-only manifests" {
	umask 002
	mkdir -p shared
	for i in 1 2 3; do echo $i >shared/f$i; done
	umask 022	# the local target's agent inherits it
	run "$FERRY" push --json
	[ "$status" -eq 0 ]
	[ "$(stat -c %a shared/f1)" = 664 ]
	[ "$(stat -c %a "$R/shared/f1" "$R/shared")" = "$(printf '644\n755')" ]
	echo 4 >shared/f4
	chmod 664 shared/f4
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"written":1,'* ]]
	[[ "$output" == *'"manifest":"changes"'* ]]
	run "$FERRY" push --json
	[[ "$output" == *'"written":0,'* ]]
	[[ "$output" == *'"manifest":"changes"'* ]]
	# A mode changed on the laptop still travels (as placed here).
	chmod 600 shared/f2
	run "$FERRY" push --json
	[[ "$output" == *'"written":0,'* ]]
	[ "$(stat -c %a "$R/shared/f2")" = 600 ]
}
