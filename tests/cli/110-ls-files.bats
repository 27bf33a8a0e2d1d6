#!/usr/bin/env bats
# ferry ls-files and ferry check-ignore: the push set.

load helpers

setup() {
	common_setup
	"$FERRY" init --local "$T/remote" >/dev/null
	mkdir -p src/sub results data .git/objects "sp ace" .ferry
	touch src/a.py src/a.pyc src/keep.pyc src/sub/b.py data/big.bin results/r.txt .git/HEAD .ferry/index "sp ace/f 1"
	printf '*.pyc\ndata/\n# comment\n' >.gitignore
	printf '!keep.pyc\n/only-here\n' >src/.gitignore
}
teardown() { common_teardown; }

@test "ls-files lists the push set in byte order" {
	run "$FERRY" ls-files
	[ "$status" -eq 0 ]
	expected=$(printf '%s\n' .gitignore "sp ace/f 1" src/.gitignore src/a.py src/keep.pyc src/sub/b.py)
	[ "$output" = "$expected" ]
}

@test "ls-files --dirs --long shows types, and symlinks are not followed" {
	ln -s /etc src/etc-link
	ln -s ../../outside src/sub/dangling
	run "$FERRY" ls-files --dirs --long
	[ "$status" -eq 0 ]
	[[ "$output" == *"d 0755"*" src/"* ]]
	[[ "$output" == *"l 0777"*" src/etc-link"* ]]
	[[ "$output" == *"src/sub/dangling"* ]]
	[[ "$output" != *"src/etc-link/"* ]]
	[[ "$output" != *"passwd"* ]]
}

@test "odd names round-trip with -z" {
	touch -- "-leading" $'new\nline' $'\xff\xfe' "$(printf 'e\xcc\x81')" "$(head -c 255 /dev/zero | tr '\0' n)"
	"$FERRY" ls-files -z >"$T/list"
	for n in "-leading" $'new\nline' $'\xff\xfe' "$(printf 'e\xcc\x81')" "$(head -c 255 /dev/zero | tr '\0' n)"; do
		python3 - "$T/list" "$n" <<'PY'
import os, sys
names = open(sys.argv[1], "rb").read().split(b"\0")
assert os.fsencode(sys.argv[2]) in names, sys.argv[2]
PY
	done
}

@test "FIFOs are skipped with a warning" {
	mkfifo src/pipe
	run --separate-stderr "$FERRY" ls-files
	[ "$status" -eq 0 ]
	[[ "$output" != *"src/pipe"* ]]
	[[ "$stderr" == *"skipping 'src/pipe'"* ]]
}

@test "push and pull folders from ferry.ini" {
	printf '[target]\ntype = local\npath = %s\n[sync]\npush = src, data\npull = src/sub\nignore = *.py\n' "$T/remote" >ferry.ini
	run --separate-stderr "$FERRY" ls-files
	[ "$status" -eq 0 ]
	# data/ is ignored by .gitignore even when listed as a push folder
	expected=$(printf '%s\n' src/.gitignore src/keep.pyc)
	[ "$output" = "$expected" ]
	[[ "$stderr" == *"push folder 'data' is ignored"* ]]
}

@test "an ignored directory cannot be re-included, as in git" {
	printf 'build/\n!build/keep\n' >.gitignore
	mkdir build
	touch build/keep
	run "$FERRY" ls-files
	[[ "$output" != *"build/keep"* ]]
	run "$FERRY" check-ignore -v build/keep
	[ "$status" -eq 0 ]
	[[ "$output" == ".gitignore:1:build/"$'\t'"build/keep" ]]
}

@test "check-ignore -v names the deciding rule" {
	run "$FERRY" check-ignore -v src/a.pyc data/big.bin results/r.txt .git/HEAD .ferry/index src/keep.pyc src/a.py
	[ "$status" -eq 0 ]
	expected=$(printf '%s\t%s\n' ".gitignore:1:*.pyc" src/a.pyc ".gitignore:2:data/" data/big.bin \
		"(default):0:pull = results (a result: pulled whole, whatever .gitignore says)" results/r.txt \
		"(ferry):0:.git (never synced)" .git/HEAD "(ferry):0:.ferry/ (ferry's own state)" .ferry/index \
		"src/.gitignore:1:!keep.pyc" src/keep.pyc)
	[ "$output" = "$expected" ]
	run "$FERRY" check-ignore src/a.py
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	run "$FERRY" check-ignore -v -n src/a.py
	[ "$output" = "::"$'\t'"src/a.py" ]
}

@test "check-ignore works from a subfolder and refuses paths outside" {
	cd src
	run "$FERRY" check-ignore -v a.pyc
	[[ "$output" == ".gitignore:1:*.pyc"$'\t'"a.pyc" ]]
	run "$FERRY" check-ignore ../../elsewhere
	[ "$status" -eq 64 ]
}

@test "a .gitignore that is a symlink is not read" {
	rm .gitignore
	printf '*.py\n' >"$T/evil-ignore"
	ln -s "$T/evil-ignore" .gitignore
	run "$FERRY" ls-files
	[[ "$output" == *"src/a.py"* ]]
}

@test "ferry.ini is ferry's, not code: never pushed, not in the code version" {
	mkdir "$T/p2"
	cd "$T/p2"
	"$FERRY" init --local "$T/remote" >/dev/null
	echo 'print(1)' >main.py
	run "$FERRY" ls-files
	[ "$output" = main.py ]
	run "$FERRY" check-ignore -v ferry.ini
	[ "$status" -eq 0 ]
	[[ "$output" == *"(ferry):0:ferry.ini (ferry's project file, not code)"* ]]
	"$FERRY" push >/dev/null
	[ ! -e "$T/remote/ferry.ini" ]
	t1=$("$FERRY" run --json -- true | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"])')
	# a new pull folder changes ferry.ini, not the code a job runs
	sed -i 's/^# pull = .*/pull = results, plots/' ferry.ini
	grep -q '^pull = results, plots' ferry.ini
	t2=$("$FERRY" run --json -- true | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"])')
	[ -n "$t1" ] && [ "$t1" = "$t2" ]
}
