# push-lib.bash - push behaviours checked on every target.  The caller's
# project points at the target; $R is the server-side project folder.

# Compares the push set here with the copy there: bytes, modes, mtimes,
# symlink targets, empty folders.
trees_equal() {
	python3 - "$PWD" "$R" <<'PY'
import os, sys, stat
a, b = sys.argv[1], sys.argv[2]
def walk(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        dns[:] = [d for d in dns if d not in (".git", ".ferry", "results")]
        for n in dns + fns:
            p = os.path.join(dp, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_mtime_ns, open(p, "rb").read())
    return out
x, y = walk(a), walk(b)
x.pop("ferry.ini", None)	# ferry's own file: never pushed
if x != y:
    for k in sorted(set(x) | set(y), key=os.fsencode):
        if x.get(k) != y.get(k):
            print("differs:", repr(k), x.get(k, "missing")[:3], y.get(k, "missing")[:3])
    sys.exit(1)
PY
}

make_tree() {
	mkdir -p src/sub empty "sp ace"
	echo hello >src/a.txt
	head -c 300000 /dev/urandom >src/big.bin
	printf 'x' >"sp ace/f 1"
	touch -- "-dash" $'new\nline' $'\xff\xfe' "$(printf 'e\xcc\x81')" "$(head -c 255 /dev/zero | tr '\0' n)"
	ln -s a.txt src/link
	ln -s /etc/passwd src/abs-link
	printf '#!/bin/sh\n' >src/run.sh
	chmod 755 src/run.sh
	chmod 700 src/sub
	echo b >src/sub/b.txt
	touch -d '2001-02-03 04:05:06.123456789' src/a.txt
}

check_push_roundtrip() {
	make_tree
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	trees_equal
	[ "$(readlink "$R/src/abs-link")" = /etc/passwd ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[[ "$output" == "pushed 0, deleted 0, 0 conflicts"* ]]
	# changes, deletes, a new folder
	echo changed >src/a.txt
	rm src/sub/b.txt "sp ace/f 1"
	mkdir -p new/deep
	echo n >new/deep/n.txt
	run "$FERRY" push
	[ "$status" -eq 0 ]
	trees_equal
	[ ! -e "$R/src/sub/b.txt" ]
}

check_push_conflicts() {
	make_tree
	"$FERRY" push >/dev/null
	echo theirs >"$R/src/a.txt"
	echo mine >src/a.txt
	echo theirs-new >"$R/made-there.txt"
	echo mine-new >made-there.txt
	echo kept >"$R/src/sub/server-only.txt"
	rm src/sub/b.txt
	run "$FERRY" push --dry-run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: src/a.txt: changed on the server"* ]]
	[[ "$output" == *"conflict: made-there.txt: exists on the server but ferry did not put it there"* ]]
	[[ "$output" == *"delete  src/sub/b.txt"* ]]
	[ -e "$R/src/sub/b.txt" ]
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[ "$(cat "$R/src/a.txt")" = theirs ]
	[ "$(cat "$R/made-there.txt")" = theirs-new ]
	# files ferry did not put there are never deleted
	[ "$(cat "$R/src/sub/server-only.txt")" = kept ]
	[ ! -e "$R/src/sub/b.txt" ]
	run "$FERRY" push --force
	[ "$status" -eq 0 ]
	[ "$(cat "$R/src/a.txt")" = mine ]
	[ "$(cat "$R/made-there.txt")" = mine-new ]
	# a file deleted here but changed there is kept, as a conflict
	echo edited-there >"$R/src/run.sh"
	rm src/run.sh
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[[ "$output" == *"src/run.sh: deleted on the laptop but changed on the server since the last push: kept"* ]]
	[ -e "$R/src/run.sh" ]
}

check_push_guard_and_pull_folders() {
	mkdir -p data results
	for i in $(seq 1 40); do echo "$i" >"data/f$i"; done
	"$FERRY" push >/dev/null
	mkdir -p "$R/results"
	echo server-result >"$R/results/r.txt"
	echo local-result >results/r.txt
	mv data moved-away
	printf 'moved-away/\n' >.gitignore
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"would delete 40 of the 40 files"* ]]
	[ -e "$R/data/f1" ]
	run "$FERRY" push --force
	[ "$status" -eq 0 ]
	[ ! -e "$R/data/f1" ]
	# push never writes into the pull folders
	[ "$(cat "$R/results/r.txt")" = server-result ]
}

check_push_concurrent_and_kill() {
	for i in $(seq 1 30); do head -c 200000 /dev/urandom >"f$i.bin"; done
	# kill -9 at random moments: never a partial file under a real name
	for round in $(seq 1 8); do
		for i in $(seq 1 30); do head -c 1000 /dev/urandom >>"f$i.bin"; done
		"$FERRY" push >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 9))"
		# odd rounds kill the client, even rounds the agent writing there
		if [ $((round % 2)) = 0 ]; then kill_test_agents; fi
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		for f in "$R"/f*.bin; do
			[ -e "$f" ] || continue
			# whatever is under a real name is a complete version of it
			size=$(stat -c %s "$f")
			[ $((size % 1000)) -eq 0 ]
		done
	done
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	trees_equal
	[ -z "$(find "$R" -name '.ferry-tmp.*')" ]
}

# Asserts a Python expression over the --json line in $output (as d).
json_check() {
	echo "$output" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert '"$1"', d'
}

# The agent's index of this test's project: the one written since
# "$T/mark" (local agent: under $HOME; ssh: the sshd's XDG_STATE_HOME).
agent_index() {
	find "$HOME/.local/state/ferry/roots" ${SSHD_DIR:+"$SSHD_DIR/remote-state/ferry/roots"} \
		-name push.index -newer "$T/mark" 2>/dev/null | head -n 1
}

# After a clean push only the changes travel (and every symlink: the
# agent's index has no link targets), yet the agent still checks every
# file it placed: an edit there is a conflict, a file deleted there is
# asked for again.
check_push_changes_only() {
	touch "$T/mark"
	make_tree
	"$FERRY" push >/dev/null
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["manifest_entries"] == 2 and d["written"] == 0'
	echo theirs >"$R/src/a.txt"
	rm "$R/sp ace/f 1"
	echo new >src/sub/b.txt
	rm src/run.sh
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 1 ]
	json_check 'd["manifest"] == "changes" and d["manifest_entries"] == 4'
	json_check 'd["conflicts"] == 1 and d["written"] == 2 and d["deleted"] == 1'
	[ "$(cat "$R/src/a.txt")" = theirs ]
	[ "$(cat "$R/sp ace/f 1")" = x ]
	[ "$(cat "$R/src/sub/b.txt")" = new ]
	[ ! -e "$R/src/run.sh" ]
	# still a conflict on the next push, until --force
	run "$FERRY" push --json
	[ "$status" -eq 1 ]
	json_check 'd["manifest"] == "changes" and d["conflicts"] == 1'
	run "$FERRY" push --force --json
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["written"] == 1'
	trees_equal
}

# A client whose base is not the agent's index (here: a cache from two
# pushes ago) sends the full manifest, and the result is the same. The
# cache is its file and its log: whether the second push rewrites the
# file or appends to the log depends on timing (racy entries), so both
# are saved and put back.
check_push_base_mismatch() {
	make_tree
	"$FERRY" push >/dev/null
	cache=$(find .ferry -name push.index)
	[ -n "$cache" ]
	cp "$cache" "$T/old-cache"
	if [ -e "$cache.log" ]; then cp "$cache.log" "$T/old-log"; fi
	echo v2 >src/a.txt
	"$FERRY" push >/dev/null
	cp "$T/old-cache" "$cache"
	rm -f "$cache.log"
	if [ -e "$T/old-log" ]; then cp "$T/old-log" "$cache.log"; fi
	echo v3 >src/a.txt
	rm src/sub/b.txt
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["written"] == 1 and d["deleted"] == 1'
	trees_equal
	run "$FERRY" push --json
	json_check 'd["manifest"] == "changes" and d["manifest_entries"] == 2'
}

# The agent lost its index: the full manifest, files that match are
# adopted, and nothing ferry no longer knows it put there is deleted.
check_push_index_lost() {
	touch "$T/mark"
	make_tree
	"$FERRY" push >/dev/null
	ix=$(agent_index)
	[ -n "$ix" ]
	rm "$ix"
	echo kept >"$R/src/sub/server-only.txt"
	rm src/sub/b.txt
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["deleted"] == 0 and d["written"] == 0'
	[ "$(cat "$R/src/sub/b.txt")" = b ]
	[ "$(cat "$R/src/sub/server-only.txt")" = kept ]
	run "$FERRY" push --json
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["deleted"] == 0'
	[ -e "$R/src/sub/b.txt" ]
}

# Overwrites N bytes of FILE at OFFSET with 'x', in place.
scribble() {
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(b"x"*int(sys.argv[3]))' "$@"
}

# A large file with a few KB changed goes as a delta: the bytes on the
# wire stay far below its size, and the copy is exact.
check_push_delta() {
	head -c 5000000 /dev/urandom >big.bin
	"$FERRY" push >/dev/null
	scribble big.bin 2500000 4000
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1 and d["bytes_sent"] < 100000 and d["bytes_received"] < 50000'
	trees_equal
	# bytes inserted near the front and appended at the end, a new inode
	{ head -c 1000 big.bin; echo inserted; tail -c +1001 big.bin; echo appended; } >big.new
	mv big.new big.bin
	run "$FERRY" push --json
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1 and d["bytes_sent"] < 100000'
	trees_equal
	# changed on the server: still a conflict, the delta changes nothing
	scribble "$R/big.bin" 10 10
	scribble big.bin 20 10
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: big.bin: changed on the server"* ]]
	run "$FERRY" push --force --json
	[ "$status" -eq 0 ]
	json_check 'd["bytes_sent"] < 100000'
	trees_equal
}

# seq output: about 6.9 MB that zstd shrinks tenfold.
make_text() {
	seq 1 1000000 >"$1"
}

check_push_not_compressed() {
	make_text text.txt
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["bytes_sent"] >= 6888896'
	trees_equal
}
