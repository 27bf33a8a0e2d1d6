#!/usr/bin/env bats
# ferry diff: the server's copy against the laptop's.

load helpers

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
}
teardown() { common_teardown; }

@test "diff: a conflict's two sides, one-sided files, paths from a subfolder, refusals" {
	printf 'a\nb\nc\n' >x.txt
	mkdir sub
	echo same >sub/y
	"$FERRY" push >/dev/null
	printf 'a\nB\nc\n' >"$R/x.txt"
	printf 'a\nb\nc\nd\n' >x.txt
	run "$FERRY" push
	[ "$status" -eq 1 ]
	run "$FERRY" diff x.txt
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf -- '--- server:x.txt\n+++ laptop:x.txt\n@@ -1,3 +1,4 @@\n a\n-B\n+b\n c\n+d')" ]
	cd sub
	run "$FERRY" diff y
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	echo new >here-only
	run "$FERRY" diff here-only
	[ "$status" -eq 1 ]
	[[ "$output" == *"server:sub/here-only (none)"*"+new"* ]]
	echo srv >"$R/sub/there-only"
	run "$FERRY" diff there-only
	[ "$status" -eq 1 ]
	[[ "$output" == *"laptop:sub/there-only (none)"*"-srv"* ]]
	run "$FERRY" diff nowhere
	[ "$status" -eq 2 ]
	[[ "$output" == *"on neither side"* ]]
	run "$FERRY" diff /etc/passwd
	[ "$status" -eq 64 ]
	[[ "$output" == *"not a path inside the project"* ]]
	# a symlink on the server is not followed out of the project
	ln -s /etc/passwd "$R/sub/lnk"
	run "$FERRY" diff lnk
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"symlink on the way (not followed)"* ]]
	[[ "$output" != *"root:"* ]]
	run "$FERRY" diff
	[ "$status" -eq 64 ]
}
