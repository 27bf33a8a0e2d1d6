# pull-lib.bash - pull behaviours checked on every target.  The caller's
# project points at the target; $R is the server-side project folder.

# Compares results/ here with results/ there: bytes, modes, mtimes,
# symlink targets, empty folders.
results_equal() {
	python3 - "$PWD/results" "$R/results" <<'PY'
import os, sys, stat
a, b = sys.argv[1], sys.argv[2]
def walk(root):
    out = {}
    for dp, dns, fns in os.walk(root):
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
if x != y:
    for k in sorted(set(x) | set(y), key=os.fsencode):
        if x.get(k) != y.get(k):
            print("differs:", repr(k), x.get(k, "missing")[:3], y.get(k, "missing")[:3])
    sys.exit(1)
PY
}

make_results() {
	mkdir -p "$R/results/run1/empty" "$R/results/sp ace"
	echo loss=0.1 >"$R/results/run1/metrics.txt"
	head -c 300000 /dev/urandom >"$R/results/run1/model.bin"
	printf 'x' >"$R/results/sp ace/f 1"
	touch -- "$R/results/-dash" "$R/results/"$'new\nline' "$R/results/"$'\xff\xfe' \
		"$R/results/$(printf 'e\xcc\x81')" "$R/results/$(head -c 255 /dev/zero | tr '\0' n)"
	ln -s run1/metrics.txt "$R/results/latest"
	ln -s /etc/passwd "$R/results/abs-link"
	printf '#!/bin/sh\n' >"$R/results/run1/plot.sh"
	chmod 755 "$R/results/run1/plot.sh"
	chmod 700 "$R/results/run1"
	touch -d '2001-02-03 04:05:06.123456789' "$R/results/run1/metrics.txt"
}

check_pull_roundtrip() {
	make_results
	echo server-code >"$R/train.py"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	results_equal
	[ "$(readlink results/abs-link)" = /etc/passwd ]
	# a pull touches nothing outside the pull folders
	[ ! -e train.py ]
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	# changes, deletes, a new folder on the server
	echo loss=0.05 >"$R/results/run1/metrics.txt"
	rm "$R/results/sp ace/f 1" "$R/results/-dash"
	mkdir -p "$R/results/run2/deep"
	echo n >"$R/results/run2/deep/n.txt"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	results_equal
	[ ! -e "results/sp ace/f 1" ]
}

check_pull_conflicts() {
	make_results
	"$FERRY" pull >/dev/null
	echo mine >results/run1/metrics.txt
	echo theirs >"$R/results/run1/metrics.txt"
	echo mine-new >results/made-here.txt
	echo theirs-new >"$R/results/made-here.txt"
	echo kept >results/run1/local-notes.txt
	rm "$R/results/run1/plot.sh"
	run "$FERRY" pull --dry-run
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: results/run1/metrics.txt: changed on the laptop since the last pull"* ]]
	[[ "$output" == *"conflict: results/made-here.txt: exists on the laptop but ferry did not put it there"* ]]
	[[ "$output" == *"delete  results/run1/plot.sh"* ]]
	[ -e results/run1/plot.sh ]
	run "$FERRY" pull
	[ "$status" -eq 1 ]
	[[ "$output" == *"ferry pull --force"* ]]
	[ "$(cat results/run1/metrics.txt)" = mine ]
	[ "$(cat results/made-here.txt)" = mine-new ]
	[ ! -e results/run1/plot.sh ]
	# files ferry did not put here are never deleted
	[ "$(cat results/run1/local-notes.txt)" = kept ]
	run "$FERRY" pull --force
	[ "$status" -eq 0 ]
	[ "$(cat results/run1/metrics.txt)" = theirs ]
	[ "$(cat results/made-here.txt)" = theirs-new ]
	# deleted there, edited here: kept, as a conflict
	echo annotated >>results/run1/model.bin
	rm "$R/results/run1/model.bin"
	run "$FERRY" pull
	[ "$status" -eq 1 ]
	[[ "$output" == *"results/run1/model.bin: deleted on the server but changed on the laptop since the last pull: kept"* ]]
	[ -e results/run1/model.bin ]
}

check_pull_scope_and_guard() {
	mkdir -p "$R/results" "$R/logs" src
	for i in $(seq 1 40); do echo "$i" >"$R/results/r$i"; done
	echo server-log >"$R/logs/a.log"
	echo mine >src/code.py
	printf '[sync]\npull = results, logs\n' >>ferry.ini
	run "$FERRY" pull logs
	[ "$status" -eq 0 ]
	[ -e logs/a.log ] && [ ! -e results/r1 ]
	run "$FERRY" pull src
	[ "$status" -eq 64 ]
	[[ "$output" == *"'src' is not inside a pull folder"* ]]
	run "$FERRY" pull ../x
	[ "$status" -eq 64 ]
	"$FERRY" pull >/dev/null
	[ -e results/r40 ]
	# the server's results were cleared: the guard asks for --force
	rm -rf "$R/results"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"would delete 40 of the 41 files"* ]]
	[ -e results/r1 ]
	run "$FERRY" pull --force
	[ "$status" -eq 0 ]
	[ ! -e results/r1 ]
	[ -e logs/a.log ]
	[ "$(cat src/code.py)" = mine ]
}

check_pull_kill() {
	mkdir -p "$R/results"
	for i in $(seq 1 30); do head -c 200000 /dev/urandom >"$R/results/f$i.bin"; done
	for round in $(seq 1 8); do
		for i in $(seq 1 30); do head -c 1000 /dev/urandom >>"$R/results/f$i.bin"; done
		"$FERRY" pull >/dev/null 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 9))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		for f in results/f*.bin; do
			[ -e "$f" ] || continue
			# whatever is under a real name is a complete version of it
			size=$(stat -c %s "$f")
			[ $((size % 1000)) -eq 0 ]
		done
	done
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	results_equal
	[ -z "$(find results -name '.ferry-tmp.*')" ]
}

json_check() {
	echo "$output" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert '"$1"', d'
}

scribble() {
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(b"x"*int(sys.argv[3]))' "$@"
}

check_pull_delta() {
	mkdir -p "$R/results"
	head -c 5000000 /dev/urandom >"$R/results/big.bin"
	"$FERRY" pull >/dev/null
	scribble "$R/results/big.bin" 2500000 4000
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1 and d["bytes_received"] < 100000 and d["bytes_sent"] < 50000'
	results_equal
	# changed here: a conflict, left alone
	scribble results/big.bin 10 10
	scribble "$R/results/big.bin" 20 10
	run "$FERRY" pull
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: results/big.bin: changed on the laptop"* ]]
	run "$FERRY" pull --force --json
	[ "$status" -eq 0 ]
	json_check 'd["bytes_received"] < 100000'
	results_equal
}

check_pull_not_compressed() {
	mkdir -p "$R/results"
	seq 1 1000000 >"$R/results/text.txt"
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["bytes_received"] >= 6888896'
	results_equal
}

# After a clean pull the agent sends only what changed since (its cache
# of what it sent is this side's index), yet this side still checks
# every file it holds: an edit here is kept (the server's copy did not
# change), a file deleted here is asked for again.  A pull of one folder
# is no base for the next.
check_pull_changes_only() {
	mkdir -p "$R/results/sub"
	for i in $(seq 1 20); do echo "$i" >"$R/results/sub/f$i"; done
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["written"] == 20'	# files: folders are not counted
	run "$FERRY" pull --json
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["written"] == 0'
	echo new >"$R/results/new.txt"
	echo changed >"$R/results/sub/f4"
	rm "$R/results/sub/f3"
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["written"] == 2 and d["deleted"] == 1'
	results_equal
	echo mine >results/sub/f5
	rm results/sub/f6
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["conflicts"] == 0 and d["written"] == 1'
	[ "$(cat results/sub/f5)" = mine ] && [ "$(cat results/sub/f6)" = 6 ]
	run "$FERRY" pull --force --json
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1'
	results_equal
	# one folder: the full list of that folder; then the next whole
	# pull has no base (the agent's cache holds that folder only)
	echo again >"$R/results/sub/f7"
	echo top >"$R/results/top.txt"
	run "$FERRY" pull --json results/sub
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["written"] == 1'
	[ ! -e results/top.txt ]
	run "$FERRY" pull --json
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["written"] == 1'
	run "$FERRY" pull --json
	json_check 'd["manifest"] == "changes" and d["written"] == 0'
	results_equal
}

# A pull folder below another folder, and a FOLDER argument below a pull
# folder: the folders above are not the pull's to write, only to make.
check_pull_nested() {
	printf '[sync]\npull = out/results\n' >>ferry.ini
	mkdir -p "$R/out/results/a/b" "$R/out/other"
	echo 1 >"$R/out/results/a/b/x"
	echo 2 >"$R/out/results/a/y"
	echo not-pulled >"$R/out/other/z"
	run "$FERRY" pull --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 2'	# files: folders are not counted
	[ "$(cat out/results/a/b/x)" = 1 ] && [ ! -e out/other ]
	echo 3 >"$R/out/results/a/b/x"
	echo 4 >"$R/out/results/a/y"
	run "$FERRY" pull --json out/results/a/b
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1'
	[ "$(cat out/results/a/b/x)" = 3 ] && [ "$(cat out/results/a/y)" = 2 ]
	run "$FERRY" pull --json
	[ "$status" -eq 0 ]
	json_check 'd["written"] == 1'
	[ "$(cat out/results/a/y)" = 4 ]
}
