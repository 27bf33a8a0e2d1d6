#!/usr/bin/env bats
# ferry init / ferry config / project file errors.

load helpers

setup() { common_setup; }
teardown() { common_teardown; }

@test "init HOST:PATH writes ferry.ini and refuses to overwrite" {
	run "$FERRY" init gpu-box:~/proj
	[ "$status" -eq 0 ]
	grep -qx 'host = gpu-box' ferry.ini
	grep -qx 'path = ~/proj' ferry.ini
	run "$FERRY" init other:~/x
	[ "$status" -eq 1 ]
	[[ "$output" == *"already exists"* ]]
	grep -qx 'host = gpu-box' ferry.ini
	run "$FERRY" init --force other:~/x
	[ "$status" -eq 0 ]
	grep -qx 'host = other' ferry.ini
}

@test "init HOST alone defaults the path to ~/NAME" {
	run "$FERRY" init me@box
	[ "$status" -eq 0 ]
	grep -qx 'path = ~/proj' ferry.ini
	grep -qx 'host = me@box' ferry.ini
}

@test "init --local writes a local target and refuses the project folder itself" {
	run "$FERRY" init --local "$T/remote"
	[ "$status" -eq 0 ]
	grep -qx 'type = local' ferry.ini
	run "$FERRY" init --force --local "$T/proj/sub"
	[ "$status" -eq 64 ]
	[[ "$output" == *"outside the project folder"* ]]
}

@test "init rejects bad targets with a usage error" {
	run "$FERRY" init -- -oProxyCommand=evil:x
	[ "$status" -eq 64 ]
	run "$FERRY" init
	[ "$status" -eq 64 ]
	[[ "$output" == *"missing HOST"* ]]
	run "$FERRY" init 'a b:x'
	[ "$status" -eq 64 ]
	[ ! -e ferry.ini ]
}

@test "config shows values and where each came from" {
	"$FERRY" init gpu-box:~/proj
	run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"target.host"*"gpu-box"*"ferry.ini:5"* ]]
	[[ "$output" == *"target.ssh_command"*"ssh"*"default"* ]]
	FERRY_SSH_COMMAND="ssh -F /x" run "$FERRY" config
	[[ "$output" == *"ssh -F /x"*"FERRY_SSH_COMMAND"* ]]
}

@test "config is found from a subfolder, and -C works" {
	"$FERRY" init gpu-box:~/proj
	mkdir -p a/b
	cd a/b
	run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"$T/proj/ferry.ini"* ]]
	cd /
	run "$FERRY" -C "$T/proj" config
	[ "$status" -eq 0 ]
}

@test "no ferry.ini is a project-file error with a hint" {
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"no ferry.ini"* ]]
	[[ "$output" == *"ferry init"* ]]
}

# bad_file NAME CONTENT EXPECTED-SUBSTRING
bad_file() {
	printf "$2" >ferry.ini
	run "$FERRY" config
	echo "$output"
	[ "$status" -eq 78 ]
	[[ "$output" == *"$3"* ]]
	# exactly one line
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
}

@test "unknown key suggests the right one with file and line" {
	bad_file x '[target]\ntype = ssh\n\n\n\n\nhots = box\npath = x\n' "ferry.ini:7: unknown key 'hots' (did you mean 'host'?)"
}

@test "unknown section, duplicate key, missing value" {
	bad_file x '[targte]\n' "ferry.ini:1: unknown section '[targte]' (did you mean '[target]'?)"
	bad_file x '[target]\ntype = ssh\ntype = local\n' "ferry.ini:3: duplicate key 'type' (first set on line 2)"
	bad_file x '[target]\ntype =\n' "ferry.ini:2: 'type' has no value"
	bad_file x '[target]\ntype = ftp\n' "unknown target type 'ftp'"
	bad_file x 'host = x\n' "ferry.ini:1: key 'host' outside a section"
	bad_file x '[target]\ntype = ssh\npath = x\n' "no 'host'"
	bad_file x '[target]\njust words\n' "ferry.ini:2: cannot parse this line"
	bad_file x '[target\n' "ferry.ini:1: section header without ']'"
	bad_file x '[target]\ntype = ssh\nhost = -oProxyCommand=x\npath = x\n' "not a usable ssh host"
	bad_file x '[target]\ntype = ssh\nhost = h\npath = x\nssh_command = ssh "unbalanced\n' "unbalanced quote"
	bad_file x '[target]\ntype = local\npath = /x\n[sync]\npush = ../up\n' "must be a folder inside the project"
}

@test "over-long lines and binary junk are clear errors" {
	{ printf '[target]\ntype = ssh\nhost = '; head -c 5000 /dev/zero | tr '\0' a; printf '\n'; } >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"ferry.ini:3: line is too long"* ]]
	printf '[target]\ntype = ssh\n\x01\x02\x03\n' >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"ferry.ini:3: binary data"* ]]
	printf '[target]\ntype = ssh\x00\n' >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"binary data"* ]]
	head -c 100000 /dev/urandom >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 78 ]
	[[ "$output" == *"too large"* ]]
}

@test "random junk never crashes the parser" {
	for i in $(seq 1 40); do
		head -c $((RANDOM % 3000)) /dev/urandom >ferry.ini
		run "$FERRY" config
		[ "$status" -eq 78 ]
	done
}

@test "list keys accept commas and repeats" {
	printf '[target]\ntype = local\npath = /tmp/x\n[sync]\npush = src, scripts\npush = conf\npull = results/\nignore = *.ckpt, data/\n' >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 0 ]
	[[ "$output" == *"sync.push"*"src, scripts, conf"* ]]
	[[ "$output" == *"sync.pull"*"results "* ]]
}

@test "help and unknown commands" {
	run "$FERRY" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"exec"* ]]
	run "$FERRY" exec --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--no-login-env"* ]]
	run "$FERRY" frobnicate
	[ "$status" -eq 64 ]
	run "$FERRY" help doctor
	[ "$status" -eq 0 ]
	run "$FERRY" --version
	[[ "$output" == "ferry "* ]]
}

@test "help --help shows help's own usage" {
	run "$FERRY" help --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: ferry help [COMMAND]" ]]
}

@test "a local target inside the project, or above it, is refused at load" {
	bad_file x '[target]\ntype = local\npath = sub\n' "ferry.ini:3: the local target '$T/proj/sub' must be outside the project folder"
	bad_file x '[target]\ntype = local\npath = .\n' "must be outside the project folder"
	bad_file x "[target]\ntype = local\npath = $T/proj/a/../b\n" "must be outside the project folder"
	bad_file x "[target]\ntype = local\npath = $T\n" "must be outside the project folder"
	bad_file x '[target]\ntype = local\npath = /\n' "must be outside the project folder"
	# beside it is fine, even with a shared prefix
	printf '[target]\ntype = local\npath = %s\n' "$T/proj-remote" >ferry.ini
	run "$FERRY" config
	[ "$status" -eq 0 ]
}

@test "-C with no folder says so" {
	run "$FERRY" -C
	[ "$status" -eq 64 ]
	[[ "$output" == *"-C needs a folder"* ]]
	[[ "$output" != *"unknown option"* ]]
}

@test "run's usage errors free what the options took (LSan is on)" {
	"$FERRY" init --local "$T/remote" >/dev/null
	for args in "-n" "--bogus" "-n x --bogus" "-e A=B --bogus" "-e A=B -h"; do
		run env ASAN_OPTIONS=detect_leaks=1 "$FERRY" run $args
		echo "run $args: $status: $output"
		[ "$status" -eq 64 ] || [ "$status" -eq 0 ]
		[[ "$output" != *LeakSanitizer* ]]
	done
}
