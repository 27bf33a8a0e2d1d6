#!/usr/bin/env bats
# ferry push over a real sshd on 127.0.0.1.

load helpers
load push-lib

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
	R="$T/remote"
}
teardown() { common_teardown; }

@test "push over ssh: tree round-trips, then incremental" { check_push_roundtrip; }
@test "push over ssh: conflicts, --dry-run, --force" { check_push_conflicts; }
@test "push over ssh: mass-deletion guard; pull folders untouched" { check_push_guard_and_pull_folders; }
@test "push over ssh: kill -9 mid-push leaves no partial file" { check_push_concurrent_and_kill; }
@test "push over ssh: only changes travel; remote edits still conflict, remote deletes are re-sent" { check_push_changes_only; }
@test "push over ssh: a stale base falls back to the full manifest" { check_push_base_mismatch; }
@test "push over ssh: a lost agent index: full manifest, nothing unknown deleted" { check_push_index_lost; }
@test "push over ssh: a large file with a few KB changed goes as a delta" { check_push_delta; }

@test "push over ssh: compressible data is compressed when the link is slow" {
	slow_link 4000000
	# 30 MB of a training log: zstd shrinks it a hundredfold
	yes 'step 1234 loss 0.0123 accuracy 0.98' | head -c 30000000 >train.log
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["bytes_sent"] < 15000000'
	trees_equal
}

@test "push over ssh: a long round trip starts zstd at its strong level" {
	# 80 ms each way: ssh's 2 MiB window per 160 ms caps it near 13 MB/s
	long_link 80 4000000
	yes 'step 5678 loss 0.0456 accuracy 0.99' | head -c 2000000 >b.log
	run env FERRY_TIMING=1 "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"a thin link"* ]]
	[[ "$output" == *"zstd level 9 from the start"* ]]
	json_check 'd["bytes_sent"] < 200000'
	trees_equal
}

@test "push over ssh: a short round trip keeps zstd's fast level first" {
	yes 'step 1234 loss 0.0123 accuracy 0.98' | head -c 2000000 >a.log
	run env FERRY_TIMING=1 "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"round trip "* ]]
	[[ "$output" != *"a thin link"* ]]
	[[ "$output" != *"zstd level 9"* ]]
	trees_equal
}

@test "push over ssh: a large manifest travels in compressed batches, a changes-only one too" {
	# 3,000 entries with long alike paths: ~350 KB of plain manifest
	python3 - <<-'PY'
	import os
	for i in range(3000):
	    d = "experiments/configs/sweep-%02d/learning-rate-schedules" % (i // 100)
	    os.makedirs(d, exist_ok=True)
	    with open("%s/warmup-cosine-variant-%04d.yaml" % (d, i), "w") as f:
	        f.write(str(i))
	PY
	run "$FERRY" push --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "full" and d["written"] >= 3000 and d["bytes_sent"] < 250000'
	trees_equal
	# 2,000 DROPs in a changes-only manifest
	rm -rf experiments/configs/sweep-0* experiments/configs/sweep-1[0-9]
	run "$FERRY" push --json --force
	echo "$output"
	[ "$status" -eq 0 ]
	json_check 'd["manifest"] == "changes" and d["deleted"] >= 2000 and d["bytes_sent"] < 40000'
	trees_equal
}

@test "push over ssh: a file that vanishes after the walk is reported, the rest is pushed" {
	slow_link 2000000
	# 16 MB at 2 MB/s ahead of zz.txt in walk order: more than ssh and
	# the sockets buffer, so zz.txt is opened seconds after the walk
	# found it
	head -c 8000000 /dev/urandom >big.bin
	head -c 8000000 /dev/urandom >mid.bin
	echo bye >zz.txt
	# removed once big.bin is arriving on the server (the walk is done)
	(for _ in $(seq 1 200); do
		[ -n "$(find "$R" -name '.ferry-tmp*' 2>/dev/null)" ] && break
		sleep 0.05
	done; rm zz.txt) &
	run "$FERRY" push
	wait
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read 'zz.txt': vanished before it was sent (not pushed)"* ]]
	cmp big.bin "$R/big.bin" && cmp mid.bin "$R/mid.bin"
	[ ! -e "$R/zz.txt" ]
	[ -z "$(find "$R" -name '.ferry-tmp*')" ]
	run "$FERRY" push
	[ "$status" -eq 0 ]
	trees_equal
}

@test "push over ssh: a file changed while it is sent is pushed again, then reported if it keeps changing" {
	slow_link 2000000
	# 8 MB at 2 MB/s: its end is read from disk seconds after the walk
	# hashed it (what is queued on the way is a few MB at most)
	head -c 8000000 /dev/urandom >big.bin
	echo small >small.txt
	# changed once near its end, well after the walk, before that part
	# is read
	(sleep 1; scribble big.bin 7900000 100) &
	run "$FERRY" push
	wait
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 file changed while it was sent; pushing again"* ]]
	# The totals count both rounds: small.txt went in the first.
	[[ "$output" == *"pushed 2, deleted 0, 0 conflicts (2 in the push set"* ]]
	trees_equal

	# changing all the time near its end: two more tries, then an error
	# (exit 73)
	head -c 8000000 /dev/urandom >big.bin
	(for i in $(seq 1 150); do sleep 0.2; scribble big.bin $((7900000 + i % 50)) 10; done) &
	writer=$!
	run "$FERRY" push
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" == *"cannot write 'big.bin' on"*"changed while it was being sent; push again"* ]]
	[ "$(grep -c 'pushing again' <<<"$output")" -eq 2 ]
	# nothing partial on the server
	[ -z "$(find "$R" -name '.ferry-tmp*')" ]
}

@test "push over ssh: status answers while a push runs, without waiting for it" {
	slow_link 1000000
	echo small >small.txt
	run "$FERRY" push
	[ "$status" -eq 0 ]
	# 40 MB at 1 MB/s: the push holds the server's sync lock for tens of
	# seconds (status over the same link takes a few on a busy machine;
	# before, it waited for the lock, up to the whole push)
	head -c 40000000 /dev/urandom >big.bin
	"$FERRY" push --quiet &
	pusher=$!
	for _ in $(seq 1 400); do
		[ -n "$(find "$R" -name '.ferry-tmp*' 2>/dev/null)" ] && break
		sleep 0.05
	done
	t0=$(date +%s%N)
	run "$FERRY" status --json
	t1=$(date +%s%N)
	running=1
	if kill -0 "$pusher" 2>/dev/null; then running=0; fi
	wait "$pusher"
	echo "$output"
	echo "# status took $(( (t1 - t0) / 1000000 )) ms while a push ran" >&3
	[ "$status" -eq 0 ]
	# the push is still running: status did not wait for its lock
	[ "$running" -eq 0 ]
	# it sees what that push is sending (the server's index is not yet
	# the new one)
	json_check 'd["sync"]["state"] == "differ" and d["sync"]["send"] == 1'
	trees_equal
}
