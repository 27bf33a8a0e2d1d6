#!/usr/bin/env bats
# A job that exists only as its folder (a spec and a queued record, as a
# queue or a batch system will leave it): listed as queued, cancelled by
# kill, started from the folder alone by `ferry agent supervise DIR`.
# The folders are made from a real job's record and spec, edited field by
# field (tag, length, value: docs/PROTOCOL.md).

load helpers
load jobs-lib

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
	"$FERRY" push >/dev/null
	start_job -- true
	wait_state "$JOB" exited
	J="$HOME/.local/state/ferry/jobs"
}
teardown() {
	jobs_teardown
	common_teardown
}

# queue_copy FROM TO [CMD...]: job TO as a queued copy of job FROM, its
# spec running CMD when given.
queue_copy() {
	python3 - "$J" "$@" <<'PY'
import os, struct, sys
jobs, src, dst, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def fields(b):
    magic, b, out = b[:4], b[4:], []
    while b:
        tag, n = struct.unpack(">HI", b[:6])
        out.append((tag, b[6:6 + n])); b = b[6 + n:]
    return magic, out
def pack(magic, fs):
    return magic + b"".join(struct.pack(">HI", t, len(v)) + v for t, v in fs)
def put(path, data):
    with open(path + ".tmp", "wb") as f: f.write(data)
    os.chmod(path + ".tmp", 0o600); os.rename(path + ".tmp", path)
d = os.path.join(jobs, dst)
os.mkdir(d, 0o700)
magic, rec = fields(open(os.path.join(jobs, src, "record"), "rb").read())
new = {1: struct.pack(">I", int(dst)), 2: b"\x05", 15: struct.pack(">Q", 0), 17: struct.pack(">I", 0)}
put(os.path.join(d, "record"), pack(magic, [(t, new.get(t, v)) for t, v in rec]))
magic, spec = fields(open(os.path.join(jobs, src, "spec"), "rb").read())
if cmd:
    spec = [(1, a.encode()) for a in cmd] + [(t, v) for t, v in spec if t != 1]
put(os.path.join(d, "spec"), pack(magic, spec))
PY
}

@test "jobs: a queued job is listed as queued; kill cancels it; rm then removes it" {
	q=$((JOB + 1))
	queue_copy "$JOB" "$q"
	run "$FERRY" jobs
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"queued"* ]]
	[ "$(job_field "$q" state)" = queued ]
	# it has not ended: no exit code
	[ "$(job_field "$q" exit_code)" = null ]
	# queued is not running: rm refuses it, as it refuses a running job
	run "$FERRY" jobs rm "$q"
	echo "$output"
	[[ "$output" == *"job $q is queued: not removed"* ]]
	[ -f "$J/$q/record" ]
	run "$FERRY" kill "$q"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(job_field "$q" state)" = killed ]
	[ "$(job_field "$q" reason)" = "cancelled before it started" ]
	[ ! -e "$J/$q/log" ]
	# cancelled: never started afterwards, even from its folder
	run "$FERRY" agent supervise "$J/$q"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is killed, not queued"* ]]
	run "$FERRY" jobs rm "$q"
	[ "$status" -eq 0 ]
	[ ! -e "$J/$q" ]
}

@test "jobs: ferry agent supervise DIR runs a queued job from its folder alone" {
	q=$((JOB + 1))
	queue_copy "$JOB" "$q" /bin/sh -c 'echo from-the-spec; exit 4'
	run "$FERRY" agent supervise "$J/$q"
	[ "$status" -eq 4 ]
	[ "$(job_field "$q" state)" = failed ]
	[ "$(job_field "$q" exit_code)" = 4 ]
	run "$FERRY" logs "$q"
	[[ "$output" == *"from-the-spec"* ]]
	# a job starts once
	run "$FERRY" agent supervise "$J/$q"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not queued"* ]]
	# not a job folder, a folder without a spec
	run "$FERRY" agent supervise "$T"
	[ "$status" -eq 1 ]
	mkdir -m 700 "$J/$((q + 1))"
	run "$FERRY" agent supervise "$J/$((q + 1))"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read job"* ]]
}
