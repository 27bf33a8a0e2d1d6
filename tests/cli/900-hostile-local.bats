#!/usr/bin/env bats
# A broken or malicious peer must end the session with one clear line and
# a protocol exit code, never a crash; and the agent must survive garbage.

load helpers

setup() {
	common_setup
	"$FERRY" init fake-host:~/x >/dev/null
}
teardown() { common_teardown; }

fake() {
	FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-agent.py $1" run "$FERRY" exec -- echo hi
	echo "$output"
	[ "$status" -eq "$2" ]
	[[ "$output" == *"$3"* ]]
	[[ "$output" != *"Sanitizer"* ]]
	[[ "$output" != *"runtime error"* ]]
}

@test "oversize frame header" { fake oversize 76 "malformed frame"; }
@test "hello with a bad magic" { fake badmagic 76 "did not say hello"; }
@test "hello with an unknown protocol version" { fake badversion 76 "protocol version 7"; }
@test "impossible exit status" { fake badexit 76 "bad exit status"; }
@test "window overflow" { fake window 76 "bad window update"; }
@test "unknown message type" { fake unknown 76 "unexpected message 0x7777"; }
@test "stream cut inside a frame" { fake truncated 75 "lost"; }
@test "agent that says nothing after the preamble" { fake silent 76 "did not say hello"; }
@test "endless startup noise" { fake noise 76 "printed too much"; }
@test "one enormous line" { fake longline 76 ""; }
@test "an error frame is shown" { fake error 76 "go away"; }
@test "an error's escape sequences, BEL, CR and newline are shown, not obeyed" {
	fake error-escapes 76 'go\e]0;pwned\a away\r\nferry: all good\e[2J\xc2\x9b31m\\e (on fake-host)'
	no_raw_controls
}

@test "a server of another OS or CPU gets a clear error and a fix" {
	fake otheros 73 "the server 'fake-host' runs Darwin arm64: there is no ferry agent for Darwin"
	[[ "$output" == *"hint: ferry's agents run on Linux servers only"* ]]
}

@test "the agent answers garbage with an error frame and exits" {
	run sh -c "head -c 5000 /dev/urandom | \"$FERRY\" agent | head -c 13 | od -c | head -1"
	[[ "$output" == *"F   E   R   R   Y   -   A   G   E   N   T"* ]]
	for i in $(seq 1 20); do
		head -c $((RANDOM % 4000)) /dev/urandom >"$T/junk"
		run "$FERRY" agent <"$T/junk"
		[ "$status" -le 1 ]
		[[ "$output" != *"Sanitizer"* ]]
	done
}

@test "the agent refuses an oversize frame without buffering it" {
	python3 -c '
import struct, sys
hello = struct.pack(">IHHQ", 0x46525931, 1, 1, 0) + b"".join(struct.pack(">I", len(x)) + x for x in (b"id", b"Linux", b"x")) + struct.pack(">QI", 0, 1)
sys.stdout.buffer.write(struct.pack(">IHH", len(hello), 1, 0) + hello + struct.pack(">IHH", 0x7fffffff, 0x100, 0))
' >"$T/in"
	run sh -c "\"$FERRY\" agent <\"$T/in\" | strings"
	[[ "$output" == *"oversize or malformed frame header"* ]]
}

@test "startup text glued to the agent's first line is skipped" {
	printf '#!/bin/sh\nprintf "Welcome!\\033]0;title\\007"\nexec "%s" agent\n' "$FERRY" >"$T/glued"
	chmod +x "$T/glued"
	"$FERRY" init --force fake-host:"$T/remote" >/dev/null
	FERRY_SSH_COMMAND="$T/glued" run timeout 30 "$FERRY" exec -- echo fine
	[ "$status" -eq 0 ]
	[ "$output" = "fine" ]
}

@test "doctor shows the server's startup noise visibly" {
	printf '#!/bin/sh\nprintf "Welcome!\\033]0;title\\007\\r\\n"\nexec "%s" agent\n' "$FERRY" >"$T/glued"
	chmod +x "$T/glued"
	"$FERRY" init --force fake-host:"$T/remote" >/dev/null
	FERRY_SSH_COMMAND="$T/glued" run timeout 30 "$FERRY" doctor
	echo "$output"
	no_raw_controls
	[[ "$output" == *'Welcome!\e]0;title\a'* ]]
}

@test "SIGTERM while connecting ends ferry at once" {
	FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-agent.py slow" "$FERRY" exec -- true 2>"$T/err" &
	pid=$!
	sleep 0.5
	t0=$SECONDS
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$T/err"
	[ "$rc" -eq 143 ]
	[ $((SECONDS - t0)) -le 5 ]
	grep -q "interrupted while connecting to 'fake-host'" "$T/err"
}

@test "a failure line with missing fields during install is handled" {
	printf '#!/bin/sh\ncase "$*" in *cat*) printf "FERRY-BOOT fail ";; *) echo "FERRY-BOOT need $(uname -s) $(uname -m) /x";; esac\n' >"$T/halffail"
	chmod +x "$T/halffail"
	FERRY_SSH_COMMAND="$T/halffail" run "$FERRY" exec -- true
	echo "$output"
	[ "$status" -eq 73 ]
	[[ "$output" != *"Sanitizer"* ]]
}

# A malicious agent as the source of a pull: nothing may be written
# outside the pull folders, whatever it sends.
evil_pull() {
	mkdir -p "$T/outside" src
	echo mine >src/evil.py
	FERRY_SSH_COMMAND="python3 $BATS_TEST_DIRNAME/fake-pull-agent.py $1 $T/outside" run "$FERRY" pull ${4:-}
	echo "$output"
	[ "$status" -eq "$2" ]
	[[ "$output" == *"$3"* ]]
	[[ "$output" != *"Sanitizer"* ]]
	[[ "$output" != *"runtime error"* ]]
	[ -z "$(ls -A "$T/outside")" ]
	[ ! -e "$T/escape.txt" ] && [ ! -e "$T/abs.txt" ]
	[ "$(cat src/evil.py)" = mine ]
	[ ! -e .ferry/evil ]
	[ -z "$(find . -name '.ferry-tmp.*')" ]
}

@test "pull from a malicious agent: setuid, setgid, sticky and world-writable modes are dropped" {
	umask 022
	evil_pull modes 0 "pulled 2"
	[ "$(stat -c %a results results/d results/tool results/d/lib.so)" = "$(printf '755\n755\n755\n644')" ]
}

@test "pull from a malicious agent: a path with .." { evil_pull dotdot 76 "malformed sync entry"; }
@test "pull from a malicious agent: a file path ending in /" {
	evil_pull trailing-slash 76 "malformed sync entry"
	[ ! -e results/a ]
}
@test "pull from a malicious agent: a folder path ending in /" { evil_pull trailing-slash-dir 76 "malformed sync entry"; }
@test "pull from a malicious agent: an absolute path" { evil_pull absolute 76 "malformed sync entry"; }
@test "pull from a malicious agent: a path outside the pull folders" { evil_pull outside-pull 76 "outside the pull folders"; }
@test "pull from a malicious agent: ferry's own state" { evil_pull state 76 "outside the pull folders"; }
@test "pull from a malicious agent: entries out of order" { evil_pull unordered 76 "out of order"; }
@test "pull from a malicious agent: a file nobody asked for" { evil_pull unasked 76 "was not asked for"; }
@test "pull from a malicious agent: a changes-only manifest nobody asked for" {
	evil_pull base-unasked 76 "unexpected or malformed message 0x0311"
	[ ! -e results/a.txt ]
}
@test "pull from a malicious agent: a thousand pings are each answered, the pull goes on" {
	evil_pull pings 0 ""
	[ "$(cat results/a.txt)" = aaa ]
}
@test "pull from a malicious agent: a malformed ping" {
	evil_pull bad-ping 76 "unexpected or malformed message 0x0315"
	[ ! -e results/a.txt ]
}
@test "pull from a malicious agent: a path dropped from a full manifest" { evil_pull drop-in-full 76 "unexpected or malformed message 0x0312"; }
@test "pull from a malicious agent: a changes-only manifest drops a path the base lacks" {
	evil_pull benign 0 ""
	[ "$(cat results/a.txt)" = aaa ]
	evil_pull drop-unknown 76 "the base has no such path"
	[ "$(cat results/a.txt)" = aaa ]
}
@test "pull from a malicious agent: more bytes than announced" {
	evil_pull toolong 71 "changed while it was being sent"
	[ ! -e results/a.txt ]
}
@test "pull from a malicious agent: a symlink out, then a file inside it" {
	evil_pull link-then-file 71 ""
	[ ! -L results/ln ] || [ "$(readlink results/ln)" = "$T/outside" ]
}
@test "pull from a malicious agent: a file through a symlink already here" {
	mkdir -p results
	ln -s "$T/outside" results/out
	evil_pull through-local-link 76 "was not asked for"
	[[ "$output" == *"results/out/pwned"*"symlink"* ]]
}

@test "pull from a malicious agent: the pull folder itself as a symlink out is never placed" {
	evil_pull folder-link 71 "cannot write 'results': a pull folder from the server is a symlink: not placed"
	[ ! -L results ]
}
# results is the user's symlink to their own folder: followed, and
# nothing the agent sends leaves that folder or replaces the link.
@test "pull from a malicious agent: a symlink out, then a file inside it, below a followed pull folder" {
	mkdir -p "$T/big"
	ln -s ../big results
	evil_pull link-then-file 71 ""
	[ ! -L "$T/big/ln" ] || [ "$(readlink "$T/big/ln")" = "$T/outside" ]
	[ "$(readlink results)" = ../big ]
}
@test "pull from a malicious agent: a file through a symlink in a followed pull folder" {
	mkdir -p "$T/big"
	ln -s ../big results
	ln -s "$T/outside" "$T/big/out"
	evil_pull through-local-link 76 "was not asked for"
	[[ "$output" == *"results/out/pwned"*"symlink"* ]]
	[ "$(readlink results)" = ../big ]
}
@test "pull from a malicious agent: a followed pull folder sent as a file is not replaced" {
	mkdir -p "$T/big"
	ln -s ../big results
	evil_pull folder-file 1 "results: a folder is where the file goes" --force
	[ "$(readlink results)" = ../big ]
	[ -z "$(ls -A "$T/big")" ]
}

# A delta against the laptop's old results/big.bin: the signature is
# sent because the pull is forced over a file ferry did not put there.
evil_delta() {
	mkdir -p results
	head -c 100000 /dev/zero | tr '\0' o >results/big.bin
	evil_pull "$@" --force
	[ "$(head -c 100000 /dev/zero | tr '\0' o)" = "$(cat results/big.bin)" ]
}
@test "pull from a malicious agent: a delta copies a block the old file does not have" {
	evil_delta delta-range 76 "malformed delta for 'results/big.bin'"
}
@test "pull from a malicious agent: a delta block run that wraps around" {
	evil_delta delta-wrap 76 "malformed delta"
}
@test "pull from a malicious agent: a delta with an unknown op" {
	evil_delta delta-garbage 76 "malformed delta"
}
@test "pull from a malicious agent: a delta producing more than announced" {
	evil_delta delta-toolong 71 "changed while it was being sent"
}
@test "pull from a malicious agent: a delta for a file with no old version" {
	evil_pull delta-nosig 76 "which has no signature"
	[ ! -e results/new.bin ]
}

# Names and notices from a malicious source are shown, never obeyed by
# the terminal: escapes, BEL, CR and newlines come out visible.
@test "pull from a malicious agent: names with escapes, CR and newline are listed visibly" {
	evil_pull escapes 0 "" -n
	no_raw_controls
	[[ "$output" == *"cannot read 'results/\\e]0;pwned\\agone': denied\\r\\e[2Kferry: all good (not pulled)"* ]]
	[[ "$output" == *'receive results/\e]0;title\a.txt (1 bytes)'* ]]
	[[ "$output" == *'receive results/cr\rname (1 bytes)'* ]]
	[[ "$output" == *'receive results/nl\nname (1 bytes)'* ]]
	[[ "$output" == *'receive results/日本.txt (1 bytes)'* ]]
	[ ! -e results ]
	mkdir results
	echo mine >results/$'nl\nname'
	evil_pull escapes 1 'conflict: results/nl\nname: '
	no_raw_controls
	[ "$(cat results/$'\e]0;title\a.txt')" = t ]
	[ "$(cat results/$'cr\rname')" = c ]
	[ "$(cat results/$'nl\nname')" = mine ]
	[ "$(cat results/日本.txt)" = j ]
}
