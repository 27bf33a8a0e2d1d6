#!/usr/bin/env bats
# Old kernels and seccomp filters: the system calls ferry may find missing
# (docs/kernel.md) fail in every process ferry starts, through strace's
# fault injection, and push, pull, jobs and exec keep their guarantees over
# the local target: nothing written outside the root, a file old or new,
# never half, no job lost.  The suites' own checks (push-lib, pull-lib,
# jobs-lib, exec-lib) run unchanged with $FERRY pointing at a wrapper.

load helpers
load push-lib
load pull-lib
load jobs-lib
load exec-lib

# Calls newer than 3.10 (and faccessat2, clone3, getrandom, rseq, which
# glibc tries first) that a RHEL 7 (3.10) or RHEL 8 (4.18) kernel lacks,
# or an older container's seccomp profile refuses.  OLD_FLAGS: calls an
# old kernel has, answering EINVAL to a newer flag (MADV_POPULATE_READ).
NEW_CALLS="openat2 statx renameat2 copy_file_range close_range pidfd_open pidfd_send_signal memfd_create faccessat2 clone3 getrandom rseq"
OLD_FLAGS="madvise:EINVAL"

setup_file() {
	command -v strace >/dev/null || skip "no strace"
	strace -f -qq -o /dev/null -e trace=openat2 -e inject=openat2:error=ENOSYS true 2>/dev/null ||
		skip "strace cannot trace here (ptrace refused)"
}

setup() {
	common_setup
	R="$T/remote"
	REAL_FERRY=$FERRY
	"$FERRY" init --local "$R" >/dev/null
	mkdir -p "$T/outside"
	# A job's forward follower would only add a process to wait for.
	export FERRY_NO_FORWARD=1
	failing ENOSYS
}
teardown() {
	lost_teardown
	jobs_teardown
	# Tracers left behind (strace -DDD detaches them from the test, and
	# one whose tracee was stopped can hang there): this test's, found
	# by the folders in their environment.
	local p
	for p in $(pgrep -x strace 2>/dev/null); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q -- "$T" && kill -9 "$p" 2>/dev/null
	done
	common_teardown
}

# failing ERR [CALL[:ERR]...]: $FERRY becomes ferry with NEW_CALLS (and
# OLD_FLAGS, and the CALLs) answering ERR (a CALL's own ERR where given; CALL:ok, not
# failed at all) in the client,
# the agent, the job supervisors and the jobs.  -DDD: the tracer is no
# parent and holds none of our pipes, so `ferry run` returns while its job
# still runs (and stays traced).  LeakSanitizer cannot run under ptrace.
failing() {
	local err=$1 c e trace="" inject=""
	shift
	for c in $NEW_CALLS $OLD_FLAGS "$@"; do
		e=$err
		case $c in *:*) e=${c#*:} c=${c%%:*} ;; esac
		case " $* " in *" $c:"*) [ "$e" = "$err" ] && continue ;; esac
		[ "$e" = ok ] && continue
		trace="$trace,$c"
		inject="$inject -e inject=$c:error=$e"
	done
	cat >"$T/ferry-old" <<SH
#!/bin/sh
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0" \\
exec strace -DDD -f -qq -A -o ${FAILING_LOG:-/dev/null} -e trace=${trace#,} $inject -- "$REAL_FERRY" "\$@" 3>&-
SH
	chmod +x "$T/ferry-old"
	FERRY="$T/ferry-old"
}

nothing_outside() {
	[ -z "$(ls -A "$T/outside")" ] || { ls -laR "$T/outside"; return 1; }
}

# ---- sync ----

@test "the calls do fail, in the client and in the agent" {
	FAILING_LOG="$T/strace.log" failing ENOSYS
	make_tree
	run "$FERRY" push
	[ "$status" -eq 0 ]
	trees_equal
	grep -E '^[0-9]+ +openat2\(.*ENOSYS.*INJECTED' "$T/strace.log" | awk '{ print $1 }' | sort -u >"$T/pids"
	[ "$(wc -l <"$T/pids")" -ge 2 ]
	grep -q 'renameat2(.*RENAME_NOREPLACE.*INJECTED' "$T/strace.log"
}

@test "no openat2, statx, renameat2 ...: push round-trips, then incremental" { check_push_roundtrip; }
@test "no openat2, statx, renameat2 ...: push conflicts, --dry-run, --force" { check_push_conflicts; }
@test "no openat2, statx, renameat2 ...: kill -9 mid-push leaves no partial file" { check_push_concurrent_and_kill; }
@test "no openat2, statx, renameat2 ...: pull round-trips, then incremental" { check_pull_roundtrip; }
@test "no openat2, statx, renameat2 ...: pull conflicts; local files never deleted" { check_pull_conflicts; }
@test "no openat2, statx, renameat2 ...: pull scope and guard" { check_pull_scope_and_guard; }

@test "seccomp (EPERM), and no hard links either: push and pull" {
	failing EPERM linkat
	check_push_roundtrip
	check_pull_roundtrip
}

@test "a filesystem without RENAME_NOREPLACE (EINVAL): push never replaces a file that appeared since" {
	failing ENOSYS renameat2:EINVAL
	check_push_conflicts
}

# The push set has a folder the server turned into a symlink out of the
# root: with no openat2, the walk one O_NOFOLLOW component at a time must
# refuse it as RESOLVE_BENEATH would.
@test "no openat2: a symlink planted on the server never leads a push or a job out of the root" {
	make_tree
	run "$FERRY" push
	[ "$status" -eq 0 ]
	rm -rf "$R/src/sub"
	ln -s "$T/outside" "$R/src/sub"
	echo changed >src/sub/b.txt
	echo new >src/sub/new.txt
	run "$FERRY" push --force
	echo "$output"
	[ "$status" -ne 0 ]
	nothing_outside
	# the link gave way to a folder: the next push fills it, inside
	run "$FERRY" push --force
	[ "$status" -eq 0 ]
	[ ! -L "$R/src/sub" ]
	[ "$(cat "$R/src/sub/new.txt")" = new ]
	nothing_outside
	# a job that writes through a link into its snapshot: its outputs
	# stay inside
	run "$FERRY" run -f --no-push -- sh -c "ln -s '$T/outside' out; mkdir -p res; echo x >res/f; echo done"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *done* ]]
	[ "$(readlink "$R/out")" = "$T/outside" ]
	[ "$(cat "$R/res/f")" = x ]
	nothing_outside
	# pull: a local results/ symlink out is never written through
	mkdir -p "$R/results/deep"
	echo pwned >"$R/results/deep/pwned"
	mkdir -p results
	ln -s "$T/outside" results/deep
	run "$FERRY" pull
	echo "$output"
	nothing_outside
}

# ---- jobs ----

@test "no pidfd, renameat2, close_range ...: run, logs -f, wait, exit codes, a missing command" { check_jobs_basic; }
@test "no pidfd, renameat2, close_range ...: the snapshot, outputs, rm and prune" { check_jobs_snapshot; }
@test "no pidfd, renameat2, close_range ...: kill stops the whole tree" { check_jobs_kill_tree; }
@test "no pidfd ...: a job whose supervisor was killed shows as lost" { check_jobs_lost; }
@test "no pidfd: a lost job's processes are found by start time and killed" { check_jobs_lost_alive; }
@test "pidfd_open but no pidfd_send_signal (a seccomp filter): a lost job is killed" {
	FAILING_LOG="$T/strace.log" failing ENOSYS pidfd_open:ok pidfd_send_signal:EPERM
	check_jobs_lost_alive
	# The tracers write their logs as they exit: wait for this test's
	# to be gone.  Whether the kill reaches pidfd_send_signal depends on
	# a race (the group's SIGTERM may end a process before it is
	# signalled one by one): every call there was must have been
	# refused, and the processes died anyway (above).
	local p left
	for i in $(seq 1 300); do
		left=
		for p in $(pgrep -x strace 2>/dev/null); do
			tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q -- "$T" && left=1
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	[ -s "$T/strace.log" ]
	! grep 'pidfd_send_signal(' "$T/strace.log" | grep -v 'EPERM.*INJECTED'
}

@test "no inotify (EMFILE: the user's instances used up): run -f, logs -f, wait, kill; outputs come out at the end" {
	failing ENOSYS inotify_init1:EMFILE
	mkdir -p src
	echo 'print("hi")' >src/a.py
	"$FERRY" push >/dev/null
	run "$FERRY" run -f -- sh -c 'mkdir -p results/run1; echo out >results/run1/f.txt; echo ckpt >model.ckpt; exit 3'
	echo "$output"
	[ "$status" -eq 3 ]
	[ "$(cat "$R/results/run1/f.txt")" = out ]
	[ "$(cat "$R/model.ckpt")" = ckpt ]
	run "$FERRY" logs 1
	[ "$status" -eq 0 ]
	start_job -- sh -c 'sleep 1; echo later; exit 4'
	run "$FERRY" logs -f "$JOB"
	[ "$status" -eq 4 ]
	[[ "$output" == *later* ]]
	start_job -- sh -c 'sleep 1; exit 5'
	run "$FERRY" wait "$JOB"
	[ "$status" -eq 5 ]
	start_job -- sleep 60
	run "$FERRY" kill "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(job_field "$JOB" state)" = killed ]
}

@test "seccomp (EPERM): jobs run, are killed, exit codes and logs come back" {
	failing EPERM prctl
	check_jobs_basic
	check_jobs_kill_tree
}

# ---- exec ----

@test "no close_range, clone3 ...: exec argv, streams, stdin, exit codes" {
	check_argv_verbatim "$R"
	check_streams
	check_stdin_binary
	check_exit_codes
}
