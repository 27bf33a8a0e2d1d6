#!/usr/bin/env bats
# The static agents over a real sshd on 127.0.0.1: the bundle's agent for
# the server's platform is what gets installed and runs (the other
# suites run the client's own ASan build as the agent, on purpose).

load helpers

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	BUNDLE="$TOP/build/agents"
	[ -x "$BUNDLE/ferry-agent-linux-x86_64" ] || skip "no agent bundle: make agents"
	common_setup
	init_ssh_project
	export XDG_STATE_HOME="$T/state" FERRY_AGENT_BUNDLE="$BUNDLE"
	arch=$(uname -m)
	A="$BUNDLE/ferry-agent-linux-$arch"
}
teardown() {
	kill_test_agents
	common_teardown
}

@test "ssh: first contact installs the bundle's static agent for the server's platform, and records it" {
	rm -rf "$SSHD_DIR/agents"
	id=$("$A" agent --build-id)
	run "$FERRY" exec -- echo hello
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	cmp "$A" "$SSHD_DIR/agents/$id/ferry"
	[ "$(cat "$T/state/ferry/hosts/ferry-test")" = "Linux $arch" ]
	run "$FERRY" doctor
	[[ "$output" == *"platform"*"Linux $arch, static agent $SSHD_DIR/agents/$id/ferry"* ]]
	before=$(stat -c %Y.%i "$SSHD_DIR/agents/$id/ferry")
	run "$FERRY" exec -- echo again
	[ "$output" = again ]
	[ "$(stat -c %Y.%i "$SSHD_DIR/agents/$id/ferry")" = "$before" ]
}

@test "ssh: push, a job and pull through the static agent" {
	mkdir -p src
	head -c 200000 /dev/urandom >src/data.bin
	echo 'print("ok")' >src/train.py
	run "$FERRY" push
	[ "$status" -eq 0 ]
	cmp src/data.bin "$T/remote/src/data.bin"
	run "$FERRY" run -f -- sh -c 'mkdir -p results && python3 src/train.py > results/out.txt'
	[ "$status" -eq 0 ]
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[ "$(cat results/out.txt)" = ok ]
	run "$FERRY" status --json
	[ "$status" -eq 0 ]
}

@test "ssh: without a bundle, the client's own executable is the agent, and doctor says what that costs" {
	export FERRY_AGENT_BUNDLE=
	run "$FERRY" exec -- true
	[ "$status" -eq 0 ]
	cmp "$FERRY" "$SSHD_DIR/agents/$("$FERRY" agent --build-id)/ferry"
	run "$FERRY" doctor
	[[ "$output" == *"warn"*"platform"*"runs this ferry's own executable as the agent"* ]]
}
