#!/usr/bin/env bats
# The static agents (issue 15): fully static per architecture; the x86_64
# one alone in an empty chroot, the aarch64 and ppc64le ones under
# qemu-user invoked explicitly, each through a handshake, a push, a pull
# and a job; the client choosing the agent the server's platform needs
# (tests/cli/arch-ssh: this machine as an ARCH host, with binfmt_misc in a
# user namespace of its own); a hostile home; old versions pruned.

load helpers

setup() {
	TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	BUNDLE="$TOP/build/agents"
	[ -x "$BUNDLE/ferry-agent-linux-x86_64" ] || skip "no agent bundle: make agents"
	common_setup
	export XDG_STATE_HOME="$T/state" FERRY_AGENT_BUNDLE="$BUNDLE"
	mkdir -p src results
	printf 'import sys\nprint("train", sys.argv[1:])\n' >src/train.py
	head -c 300000 /dev/urandom >src/weights.bin
}

teardown() {
	kill_test_agents
	# Supervisors and agents that live in a user namespace (arch-ssh).
	pkill -9 -f "ferry-agent-linux-.*$T" 2>/dev/null || true
	for m in $(awk -v t="$T" '$2 ~ "^"t { print $2 }' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
	common_teardown
}

# The same work on any target: push, a job writing a result, pull.
roundtrip() {
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[[ "$output" == *"pushed 2"* ]]
	run "$FERRY" run -f -- "$@"
	[ "$status" -eq 0 ]
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[ -s results/out.txt ]
}

@test "agents: each is fully static (no interpreter, no NEEDED), for its architecture, at most 2 MiB" {
	local a m
	for a in x86_64:X86-64 aarch64:AArch64 ppc64le:PowerPC64; do
		f="$BUNDLE/ferry-agent-linux-${a%%:*}"
		[ -x "$f" ]
		m=${a#*:}
		readelf -hW "$f" | grep -q "Machine:.*$m"
		! readelf -lW "$f" | grep -q INTERP
		readelf -dW "$f" | grep -q "no dynamic section"
		[ "$(stat -c %s "$f")" -le 2097152 ]
		! readelf -sW "$f" | grep -qw 'getpwuid\|getaddrinfo\|dlopen'
	done
}

@test "x86_64 agent alone in an empty chroot: handshake, push, pull, a job" {
	[ "$(id -u)" = 0 ] || skip "needs root for chroot"
	R="$T/root"
	mkdir -p "$R/proc" "$R/dev" "$R/proj"
	cp "$BUNDLE/ferry-agent-linux-x86_64" "$R/ferry-agent"
	# Nothing else: no libc, no shell.  /proc and /dev as any host has.
	[ "$(find "$R" -type f | wc -l)" = 1 ]
	printf '#!/bin/sh\nexec unshare -m sh -c %s %s "$@"\n' \
		"'mount -t proc proc \"\$0/proc\" && mount --rbind /dev \"\$0/dev\" && exec chroot \"\$0\" /ferry-agent \"\$@\"'" "$R" >"$T/enter"
	chmod 755 "$T/enter"
	"$FERRY" init --local /proj >/dev/null
	export FERRY_LOCAL_AGENT="$T/enter"
	run "$FERRY" push
	[ "$status" -eq 0 ]
	cmp src/weights.bin "$R/proj/src/weights.bin"
	# The job: the agent itself, the one program there is.
	run "$FERRY" run -f -- /ferry-agent --version
	[ "$status" -eq 0 ]
	[[ "$output" == *"ferry agent"*"static"* ]]
	mkdir -p "$R/proj/results" && echo made-there >"$R/proj/results/out.txt"
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[ "$(cat results/out.txt)" = made-there ]
	run "$FERRY" doctor
	[[ "$output" == *"platform"*"Linux x86_64, static agent"* ]]
}

@test "aarch64 and ppc64le agents under qemu-user: push, a job, pull, status" {
	local a
	for a in aarch64 ppc64le; do
		command -v "qemu-$a-static" >/dev/null || skip "no qemu-$a-static (qemu-user-static)"
		rm -rf "$T/remote-$a" results/out.txt ferry.ini
		"$FERRY" init --local "$T/remote-$a" >/dev/null
		export FERRY_LOCAL_AGENT="qemu-$a-static $BUNDLE/ferry-agent-linux-$a"
		roundtrip sh -c 'mkdir -p results && python3 src/train.py x > results/out.txt'
		grep -q "train \['x'\]" results/out.txt
		cmp src/weights.bin "$T/remote-$a/src/weights.bin"
		run "$FERRY" doctor
		[[ "$output" == *"Linux $a, static agent"* ]]
		run "$FERRY" status --json
		[ "$status" -eq 0 ]
	done
}

# An ssh project whose "server" is this machine seen as ARCH.
arch_project() {
	export ARCH_SSH_ARCH=$1 ARCH_SSH_BIN="$T/fakebin" FERRY_SSH_COMMAND="$BATS_TEST_DIRNAME/arch-ssh"
	"$FERRY" init "fake-$1:$T/remote" >/dev/null
}

binfmt_or_skip() {
	run env ARCH_SSH_ARCH=aarch64 ARCH_SSH_BIN="$T/fakebin" "$BATS_TEST_DIRNAME/arch-ssh" -- h true
	[ "$status" -ne 97 ] || skip "no binfmt_misc in a user namespace here (Linux >= 6.7)"
}

@test "the client uploads the aarch64 agent to a server that reports aarch64, records it, and finds it next time" {
	binfmt_or_skip
	arch_project aarch64
	run "$FERRY" push
	[ "$status" -eq 0 ]
	# What landed on the server is the bundle's aarch64 agent, byte for byte.
	f=$(ls "$T"/home/.cache/ferry/agent/*/ferry)
	cmp "$f" "$BUNDLE/ferry-agent-linux-aarch64"
	[ "$(cat "$T"/state/ferry/hosts/fake-aarch64)" = "Linux aarch64" ]
	run "$FERRY" doctor
	[[ "$output" == *"agent"*"(Linux aarch64)"* ]]
	[[ "$output" != *"installed just now"* ]]
	[[ "$output" == *"platform"*"Linux aarch64, static agent"* ]]
	run "$FERRY" run -f -- sh -c 'mkdir -p results; echo from-arm > results/out.txt'
	[ "$status" -eq 0 ]
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[ "$(cat results/out.txt)" = from-arm ]
	# Forgotten record, agent there already: found, not uploaded again.
	rm -rf "$T/state"
	run "$FERRY" doctor
	[[ "$output" == *"(Linux aarch64)"* ]]
	[[ "$output" != *"installed just now"* ]]
	[ "$(cat "$T"/state/ferry/hosts/fake-aarch64)" = "Linux aarch64" ]
}

@test "a platform the bundle lacks: one line naming the platforms it has and how to build the missing one" {
	arch_project riscv64
	run "$FERRY" exec -- true
	[ "$status" -ne 0 ]
	[[ "$output" == *"runs Linux riscv64, and there is no ferry agent for it here"* ]]
	[[ "$output" == *"linux-aarch64 linux-ppc64le linux-x86_64"* ]]
	[[ "$output" == *"make agents AGENT_ARCHES=riscv64"* ]]
	[ ! -e "$T/state/ferry/hosts/fake-riscv64" ]
}

@test "a recorded platform whose agent cannot run there is dropped and the host asked again" {
	binfmt_or_skip
	arch_project aarch64
	run "$FERRY" exec -- true
	[ "$status" -eq 0 ]
	# The same name now leads to an x86_64 machine sharing the home: the
	# aarch64 agent is there but cannot run.
	export ARCH_SSH_ARCH=x86_64
	run "$FERRY" exec -- echo ok
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = ok ]
	[ "$(cat "$T"/state/ferry/hosts/fake-aarch64)" = "Linux x86_64" ]
}

@test "a noexec home: the agent goes to the next candidate folder, says where once, and is found there next time" {
	[ "$(id -u)" = 0 ] || skip "needs root for the namespaces"
	arch_project x86_64
	export TMPDIR="$T/tmp" ARCH_SSH_NOEXEC="$T/home/.cache:$T/run:/dev/shm"
	mkdir -p "$TMPDIR"
	run "$FERRY" exec -- echo hi
	[ "$status" -eq 0 ]
	[[ "$output" == *"installed the agent on fake-x86_64 in $T/tmp/ferry-agent-"* ]]
	[[ "$output" == *"$T/home/.cache/ferry/agent: cannot run programs there"* ]]
	[ "${lines[-1]}" = hi ]
	ls "$T"/tmp/ferry-agent-*/*/ferry
	run "$FERRY" exec -- echo again
	[ "$status" -eq 0 ]
	[ "$output" = again ]
	# agent_dir set: only there, and the reason is plain.
	sed -i "s|^\[sync\]|agent_dir = $T/home/.cache/mine\n\n[sync]|" ferry.ini
	run "$FERRY" exec -- true
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot run programs from '$T/home/.cache/mine'"*"noexec"* ]]
}

@test "old agent versions no process runs are pruned; one in use and the current one stay" {
	# The static agent installed as the boot script does, run directly
	# (local target): no namespace between it and the other processes.
	A="$T/agents"
	id=$("$BUNDLE/ferry-agent-linux-x86_64" agent --build-id)
	mkdir -p "$A/$id"
	chmod 700 "$A" "$A/$id"
	cp "$BUNDLE/ferry-agent-linux-x86_64" "$A/$id/ferry"
	"$FERRY" init --local "$T/remote" >/dev/null
	export FERRY_LOCAL_AGENT="$A/$id/ferry"
	mkdir -p "$A/0.0.9-0123456789ab" "$A/0.0.8-bbbbbbbbbbbb" "$A/not-an-agent"
	echo old >"$A/0.0.9-0123456789ab/ferry"
	# In use: what a live agent of that version holds.
	echo older >"$A/0.0.8-bbbbbbbbbbbb/ferry"
	flock -s "$A/0.0.8-bbbbbbbbbbbb/ferry" sleep 30 &
	busy=$!
	# Another architecture's agent (a home shared with aarch64 hosts).
	mkdir -p "$A/0.0.6-aaaaaaaaaaaa" "$A/0.0.5-dddddddddddd"
	cp "$BUNDLE/ferry-agent-linux-aarch64" "$A/0.0.6-aaaaaaaaaaaa/ferry"
	echo new >"$A/0.0.5-dddddddddddd/ferry"
	touch -d '2 hours ago' "$A"/0.0.[6-9]-*
	sleep 0.2
	run "$FERRY" exec -- true
	[ "$status" -eq 0 ]
	[ ! -e "$A/0.0.9-0123456789ab" ]
	[ -e "$A/0.0.8-bbbbbbbbbbbb/ferry" ]
	[ -e "$A/0.0.6-aaaaaaaaaaaa/ferry" ]
	# Made a moment ago: maybe being installed.
	[ -e "$A/0.0.5-dddddddddddd/ferry" ]
	[ -e "$A/not-an-agent" ]
	[ -x "$A/$id/ferry" ]
	kill "$busy"
	wait "$busy" 2>/dev/null || true
	# Once a day: a new leftover stays until then.
	mkdir -p "$A/0.0.7-cccccccccccc"
	touch -d '2 hours ago' "$A/0.0.7-cccccccccccc"
	run "$FERRY" exec -- true
	[ -e "$A/0.0.7-cccccccccccc" ]
	# A running job's supervisor holds its version too.
	run "$FERRY" run -- sleep 4
	[ "$status" -eq 0 ]
	sleep 0.5
	! flock -n -x "$A/$id/ferry" true
	# ... and keeps it quietly: a supervisor waits, it does not spin.
	sup=$(pgrep -f "^$A/$id/ferry" | head -n 1)
	[ -n "$sup" ]
	c0=$(awk '{ print $14 + $15 }' "/proc/$sup/stat")
	sleep 1
	c1=$(awk '{ print $14 + $15 }' "/proc/$sup/stat")
	[ $((c1 - c0)) -lt 10 ]
	# A folder others can enter is not pruned in at all.
	rm -f "$A/.pruned"
	chmod 755 "$A"
	run "$FERRY" exec -- true
	[ -e "$A/0.0.7-cccccccccccc" ]
}
