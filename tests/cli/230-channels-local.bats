#!/usr/bin/env bats
# Channels (docs/PROTOCOL.md): several requests at once on one session,
# spoken to a real `ferry agent` by tests/cli/chan-client.py.

load helpers

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() {
	common_teardown
}

@test "channels: a monitor stream and logs -f keep flowing while another channel runs a command" {
	id=$("$FERRY" run -- sh -c 'for i in $(seq 1 25); do echo line$i; sleep 0.2; done')
	run python3 "$BATS_TEST_DIRNAME/chan-client.py" "$FERRY" "$R" "$id" streams
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *ok ]]
}

@test "channels: a reset stops the command on its channel; a sequential request elsewhere than 0 is refused; the session goes on" {
	run python3 "$BATS_TEST_DIRNAME/chan-client.py" "$FERRY" "$R" 0 reset
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "channels: without CAP_CHANNELS a channel id is a protocol error, as before" {
	run python3 "$BATS_TEST_DIRNAME/chan-client.py" "$FERRY" "$R" 0 nochan
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "channels: a monitor stream keeps flowing while a sequential conversation on channel 0 waits for a slow link" {
	mkdir -p "$R"
	head -c $((24 << 20)) /dev/urandom >"$R/big"
	run python3 "$BATS_TEST_DIRNAME/chan-client.py" "$FERRY" "$R" 24 seq
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *ok ]]
}
