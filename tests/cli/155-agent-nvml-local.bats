#!/usr/bin/env bats
# The static agent's NVML helper (ferry-nvml): the x86_64 static agent on
# the local target (FERRY_LOCAL_AGENT) shows the suite's fake NVML GPUs
# through NVML, not through nvidia-smi; the helpers of every architecture
# reference no glibc symbol version newer than 2.17.

load helpers
load mon-lib

setup_file() {
	export NV="$BATS_FILE_TMPDIR/nv"
	build_fake_nvml "$NV"
}

setup() {
	TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	AGENT="$TOP/build/agents/ferry-agent-linux-x86_64"
	[ -x "$AGENT" ] || skip "no static agent: make agents"
	common_setup
	"$FERRY" init --local "$T/remote" >/dev/null
	export XDG_STATE_HOME="$T/state" MON_STATE="$T/state" MON_CONF="$T/nvml.conf" FAKE_NVML_CONF="$T/nvml.conf"
	: >"$MON_CONF"
	# The static agent, through a wrapper that leaves a mark: the proof
	# that it, not this ferry, answered.
	printf '#!/bin/sh\necho "$@" >>"%s/agent-ran"\nexec "%s" "$@"\n' "$T" "$AGENT" >"$T/agent"
	chmod 755 "$T/agent"
	export FERRY_LOCAL_AGENT="$T/agent"
}
teardown() {
	stop_jobs
	common_teardown
}

@test "static agent: two fake GPUs and a job's process through NVML (the helper)" {
	export LD_LIBRARY_PATH="$NV/lib"
	check_status_gpu_job
	grep -q agent "$T/agent-ran"
}

@test "static agent: no NVML, no nvidia-smi: no GPUs, cleanly" {
	check_status_no_nvml
	grep -q agent "$T/agent-ran"
}

@test "static agent: NVML init fails: the same note as the dynamic agent" {
	export LD_LIBRARY_PATH="$NV/lib"
	check_status_nvml_init_fails
}

@test "static agent: NVML init fails, nvidia-smi takes over" {
	export LD_LIBRARY_PATH="$NV/lib" PATH="$NV/bin:$PATH"
	echo "init 18" >"$MON_CONF"
	run "$FERRY" status --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpu_source'] == 'nvidia-smi' and len(j['gpus']) == 1" \
		"'driver/library version mismatch (code 18); using nvidia-smi' in j['gpu_note']"
}

@test "static agent: a helper that dies is a note, not a broken sample" {
	export LD_LIBRARY_PATH="$NV/lib"
	echo abort >"$MON_CONF"
	run "$FERRY" status --json
	echo "$output"
	[ "$status" -eq 0 ]
	json_check "$output" "j['gpu_source'] == 'nvml' and j['gpus'] == []" \
		"j['gpu_note'].startswith('NVML: the helper stopped answering; trying again in ')"
}

@test "static agent: the helper leaves no file when memfd works, and is gone with the agent" {
	export LD_LIBRARY_PATH="$NV/lib"
	run "$FERRY" status --json
	[ "$status" -eq 0 ]
	[ ! -e "$(dirname "$AGENT")/ferry-nvml" ]
	local p left=
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in
		*memfd:ferry-nvml*) grep -qF "$T" "$p/environ" 2>/dev/null && left="$left ${p#/proc/}" ;;
		esac
	done
	[ -z "$left" ]
}

@test "ferry-nvml of every architecture: glibc symbol versions <= 2.17, libdl.so.2 and libc.so.6 only" {
	local a tool v
	for a in x86_64 aarch64 ppc64le; do
		h="$TOP/build/agent/$a/ferry-nvml"
		[ -f "$h" ] || skip "no $h: make agents"
		case $a in
		x86_64) tool=objdump ;;
		aarch64) tool=aarch64-linux-gnu-objdump ;;
		ppc64le) tool=powerpc64le-linux-gnu-objdump ;;
		esac
		v=$("$tool" -T "$h" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
		echo "$a: $v"
		[ "$(printf '%s\nGLIBC_2.17\n' "$v" | sort -V | tail -n 1)" = GLIBC_2.17 ]
		run "$tool" -p "$h"
		[[ "$output" == *"NEEDED               libdl.so.2"* ]]
		[ "$(grep -c NEEDED <<<"$output")" = 2 ]
	done
}
