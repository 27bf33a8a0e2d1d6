# mon-lib.bash - shared checks for `ferry status` and `ferry top`, run
# against the local target and over ssh.  Needs MON_STATE (the agent's
# XDG_STATE_HOME) and MON_CONF (the fake NVML's config file, as the agent
# sees them).

# build_fake_nvml DIR: libnvidia-ml.so.1 (soname set) and nvidia-smi in DIR.
build_fake_nvml() {
	mkdir -p "$1/lib" "$1/bin"
	cc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$1/lib/libnvidia-ml.so.1" "$BATS_TEST_DIRNAME/fake-nvml.c"
	cp "$BATS_TEST_DIRNAME/fake-nvidia-smi" "$1/bin/nvidia-smi"
}

# start_job ID: a real process tree in its own session (as the job
# supervisor starts it), recorded as a running ferry job.  Sets JOB_SID.
start_job() {
	local d="$MON_STATE/ferry/jobs/$1"
	mkdir -p "$d"
	rm -f "$T/sid.$1"
	setsid sh -c 'echo $$ >"$0"; sleep 300 & exec sleep 301' "$T/sid.$1" </dev/null >/dev/null 2>&1 3>&- &
	local i
	for i in $(seq 1 100); do
		[ -s "$T/sid.$1" ] && break
		sleep 0.05
	done
	JOB_SID=$(cat "$T/sid.$1")
	echo "$JOB_SID" >"$d/sid"
	echo running >"$d/state"
	JOBS_STARTED="${JOBS_STARTED:-} $JOB_SID"
}

stop_jobs() {
	local s
	for s in ${JOBS_STARTED:-}; do
		kill -KILL -- "-$s" 2>/dev/null || true
	done
	JOBS_STARTED=
}

# json_check JSON PYTHON-EXPR...: each expression, with j the parsed
# object, must be true.
json_check() {
	python3 - "$@" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
for e in sys.argv[2:]:
    if not eval(e):
        print("failed:", e, file=sys.stderr)
        print(json.dumps(j, indent=1)[:6000], file=sys.stderr)
        sys.exit(1)
PY
}

check_status_gpu_job() {
	start_job j1
	local sid=$JOB_SID me
	me=$(id -un)
	start_job j2	# running, but on no GPU
	mkdir -p "$MON_STATE/ferry/jobs/j0"
	echo 999999 >"$MON_STATE/ferry/jobs/j0/sid"
	printf 'exited 3\n' >"$MON_STATE/ferry/jobs/j0/state"
	printf 'proc 1 %s 1024\n' "$sid" >"$MON_CONF"
	run "$FERRY" status --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check "$output" \
		"j['gpu_source'] == 'nvml' and len(j['gpus']) == 2" \
		"j['gpus'][0]['name'] == 'Fake GPU 0' and j['gpus'][0]['util_pct'] == 10 and j['gpus'][0]['power_mw'] == 100000" \
		"j['gpus'][1]['power_mw'] is None and j['gpus'][1]['temp_c'] == 41 and j['gpus'][1]['mem_used'] == 2<<30" \
		"j['gpus'][0]['processes'] == []" \
		"[(p['pid'], p['user'], p['job'], p['gpu_mem']) for p in j['gpus'][1]['processes']] == [($sid, '$me', 'j1', 1<<30)]" \
		"[(x['id'], x['state'], x['sid'], x['gpus'], x['gpu_mem'], x['procs']) for x in j['jobs'] if x['id'] == 'j1'] == [('j1', 'running', $sid, [1], 1<<30, 2)]" \
		"[(x['gpus'], x['gpu_mem'], x['procs']) for x in j['jobs'] if x['id'] == 'j2'] == [([], 0, 2)]" \
		"[(x['state'], x['procs']) for x in j['jobs'] if x['id'] == 'j0'] == [('exited 3', 0)]" \
		"[x for x in j['users'] if x['user'] == '$me'][0]['gpu_mem'] == 1<<30" \
		"1 in [x for x in j['users'] if x['user'] == '$me'][0]['gpus']" \
		"[p['job'] for p in j['processes'] if p['pid'] == $sid] == ['j1']"
	run "$FERRY" status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"gpus      2 (NVML)"* ]]
	[[ "$output" == *"gpu 1   Fake GPU 1  util 90%  mem 2.0G/16G  41C"* ]]
	[[ "$output" == *"pid $sid"*"$me"*"j1"*"1.0G"* ]]
	[[ "$output" == *"j0             exited 3"* ]]
	stop_jobs
}

check_status_no_nvml() {
	run "$FERRY" status --json
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpu_source'] == 'none' and j['gpus'] == [] and j['gpu_note'] == ''" \
		"j['host']['ncpu'] >= 1 and j['host']['mem']['total'] > 0 and j['disk']['total'] > 0"
	run "$FERRY" status
	[ "$status" -eq 0 ]
	[[ "$output" == *"gpus      none"$'\n'* ]]
}

check_status_nvml_init_fails() {
	echo "init 9" >"$MON_CONF"
	run "$FERRY" status --json
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpu_source'] == 'none' and j['gpus'] == []" \
		"j['gpu_note'] == 'NVML: init failed: driver not loaded (code 9); no nvidia-smi on PATH'"
	run "$FERRY" status
	[[ "$output" == *"gpus      none (NVML: init failed: driver not loaded (code 9); no nvidia-smi on PATH)"* ]]
}
