#!/usr/bin/env bats
# An ML repository against the local target: git's files are pushed,
# pull folders come back whole, and an ignore rule is never a deletion
# (issue 22).

load helpers

setup() {
	common_setup
	R="$T/remote"
	"$FERRY" init --local "$R" >/dev/null
	git init -q
	git config user.email t@example.com
	git config user.name t
	printf 'results/\noutputs/\nwandb/\n*.ckpt\n*.pt\n.venv/\ndata/raw/\n__pycache__/\ndata/\n' >.gitignore
	mkdir -p src data/raw __pycache__ .venv/bin
	echo 'import torch' >train.py
	echo 'def f(): pass' >src/model.py
	echo 'print("prepare")' >data/prepare.py
	echo raw >data/raw/big.bin
	echo cache >__pycache__/x.pyc
	echo venv >.venv/bin/python
	git add -A
	git add -f data/prepare.py
	git commit -qm init
}
teardown() { common_teardown; }

# Results made by a job on the server.
make_results() {
	mkdir -p "$R/results/run1" "$R/results/run2"
	for i in 1 2 3; do echo "loss=$i" >"$R/results/run1/m$i.txt"; echo "acc=$i" >"$R/results/run2/a$i.txt"; done
	echo weights >"$R/results/final.ckpt"
}

@test "ml repo: a file git tracks in an ignored folder is pushed; untracked ones beside it are not" {
	run "$FERRY" ls-files
	echo "$output"
	[[ "$output" == *"data/prepare.py"* ]]
	[[ "$output" != *"data/raw"* ]]
	[[ "$output" != *"__pycache__"* ]]
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat "$R/data/prepare.py")" = 'print("prepare")' ]
	[ ! -e "$R/data/raw/big.bin" ] && [ ! -e "$R/.venv" ] && [ ! -e "$R/__pycache__" ]
	run "$FERRY" check-ignore -v data/prepare.py
	echo "$output"
	[[ "$output" == "(git):0:tracked, not ignored by .gitignore:9:data/"*"data/prepare.py" ]]
	run "$FERRY" check-ignore -v data/raw/big.bin
	[ "$status" -eq 0 ]
	[[ "$output" == ".gitignore:9:data/"*"data/raw/big.bin" ]]
	# a file git starts tracking later is pushed too (the cache follows git's index)
	echo 'print("split")' >data/split.py
	run "$FERRY" ls-files
	[[ "$output" != *"data/split.py"* ]]
	git add -f data/split.py
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[ -e "$R/data/split.py" ]
	# sync.ignore still excludes a tracked file
	printf '[sync]\nignore = data/prepare.py\n' >>ferry.ini
	run "$FERRY" ls-files
	[[ "$output" != *"data/prepare.py"* ]]
	[[ "$output" == *"data/split.py"* ]]
	run "$FERRY" check-ignore -v data/prepare.py
	[[ "$output" == "ferry.ini:"*":data/prepare.py"* ]]
}

@test "ml repo: results/ in .gitignore never deletes the pulled results; *.ckpt results are pulled" {
	make_results
	printf 'outputs/\n*.pt\n' >.gitignore
	git add .gitignore && git commit -qm 'no results rule yet'
	"$FERRY" push >/dev/null
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e results/run1/m1.txt ] && [ -e results/final.ckpt ]
	# the user ignores results/ in git (as ML repositories do) and pushes
	printf 'results/\n*.ckpt\n' >>.gitignore
	"$FERRY" push >/dev/null
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	[ -e results/run1/m1.txt ] && [ -e results/run2/a3.txt ] && [ -e results/final.ckpt ]
	# a new checkpoint written by the job comes back, whatever *.ckpt says
	echo better >"$R/results/run2/best.ckpt"
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 1, deleted 0"* ]]
	[ "$(cat results/run2/best.ckpt)" = better ]
	run "$FERRY" check-ignore -v results/final.ckpt
	echo "$output"
	[[ "$output" == "(default):0:pull = results (a result: pulled whole, whatever .gitignore says)"*"results/final.ckpt" ]]
}

@test "ml repo: pull_ignore skips results, counted and named; a later pull_ignore never deletes here" {
	make_results
	for i in 1 2 3 4 5 6 7; do echo "$i" >"$R/results/run1/step$i.ckpt"; done
	"$FERRY" pull >/dev/null
	[ -e results/run1/step1.ckpt ]
	printf '[sync]\npull_ignore = *.ckpt\n' >>ferry.ini
	echo new >"$R/results/run1/step8.ckpt"
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"pulled 0, deleted 0, 0 conflicts"* ]]
	[[ "$output" == *"skipped 9 files by pull_ignore: results/final.ckpt, results/run1/step1.ckpt, results/run1/step2.ckpt, results/run1/step3.ckpt, results/run1/step4.ckpt and 4 more"* ]]
	[[ "$output" == *"kept 8 files here that are no longer pulled"* ]]
	[ -e results/run1/step1.ckpt ] && [ -e results/final.ckpt ] && [ ! -e results/run1/step8.ckpt ]
	run "$FERRY" pull --json
	echo "$output"
	[[ "$output" == *'"skipped":9'* ]]
	[[ "$output" == *'"deleted":0'* ]]
	run "$FERRY" check-ignore -v results/run1/step8.ckpt results/run1/m1.txt
	echo "$output"
	[[ "${lines[0]}" == "ferry.ini:"*":pull_ignore = *.ckpt (not pulled)"*"results/run1/step8.ckpt" ]]
	[[ "${lines[1]}" == *"(a result: pulled whole"*"results/run1/m1.txt" ]]
	# the server deletes one it still sends: that is a deletion here
	rm "$R/results/run1/m1.txt"
	run "$FERRY" pull
	[[ "$output" == "pulled 0, deleted 1"* ]]
	[ ! -e results/run1/m1.txt ]
	# a folder that is no longer pulled stays here too
	printf '[sync]\npull = outputs\n' >>ferry.ini
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e results/run2/a1.txt ]
}

@test "ml repo: a pushed folder that becomes ignored stays on the server" {
	mkdir -p logs
	for i in $(seq 1 30); do echo "$i" >"logs/l$i.txt"; done
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[ -e "$R/logs/l1.txt" ]
	echo 'logs/' >>.gitignore
	run "$FERRY" push --dry-run
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 to delete"* ]]
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"deleted 0, 0 conflicts"* ]]
	[[ "$output" == *"kept 30 files on "*" that are no longer in the push set (not deleted there): logs/l1.txt, logs/l10.txt"*" and 25 more"* ]]
	[ -e "$R/logs/l30.txt" ]
	# quiet from now on: the server's index let go of them
	run "$FERRY" push
	[ "$status" -eq 0 ]
	[[ "$output" != *"kept"* ]]
	# a file really deleted here is still deleted there
	rm src/model.py
	run "$FERRY" push
	[[ "$output" == "pushed 0, deleted 1"* ]]
	[ ! -e "$R/src/model.py" ]
	[ -e "$R/logs/l30.txt" ]
}

@test "ml repo: the mass-deletion guard names the files and never just says --force" {
	mkdir -p exp
	for i in $(seq 1 30); do echo "$i" >"exp/e$i.txt"; done
	"$FERRY" push >/dev/null
	mv exp exp-old
	echo 'exp-old/' >>.gitignore
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"would delete 30 of the "*" files ferry put on "*": exp/e1.txt, exp/e10.txt, exp/e11.txt, exp/e12.txt, exp/e13.txt and 25 more"* ]]
	[[ "$output" == *"--dry-run"*"only if you really removed them"*"--force"* ]]
	[ -e "$R/exp/e1.txt" ]
}

@test "ml repo: a pulled result edited here is kept once, quietly after, a conflict only when both changed" {
	make_results
	"$FERRY" pull >/dev/null
	echo 'my notes' >>results/run1/m1.txt
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept your local edit of results/run1/m1.txt (the server's copy did not change)"* ]]
	[[ "$output" != *"conflict:"* ]]
	# the next pulls are quiet, and the edit stays
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	[[ "$output" != *"kept"* ]]
	echo 'more notes' >>results/run1/m1.txt
	run "$FERRY" pull
	[ "$status" -eq 0 ]
	[[ "$output" != *"kept"* ]] && [[ "$output" != *"conflict:"* ]]
	grep -q 'more notes' results/run1/m1.txt
	# now the server changes it too: both changed, a conflict
	echo 'loss=0.01' >"$R/results/run1/m1.txt"
	echo 'acc=0.99' >"$R/results/run2/a1.txt"
	echo mine >results/run2/a1.txt
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"conflict: results/run1/m1.txt: changed on the laptop (an edit kept before) and on the server since the last pull"* ]]
	[[ "$output" == *"conflict: results/run2/a1.txt: changed on the laptop since the last pull"* ]]
	grep -q 'more notes' results/run1/m1.txt
	# --force PATH resolves that path only; the other stays a conflict
	run "$FERRY" pull --force results/run1/m1.txt
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(cat results/run1/m1.txt)" = 'loss=0.01' ]
	[ "$(cat results/run2/a1.txt)" = mine ]
	[[ "$output" == *"conflict: results/run2/a1.txt"* ]]
	[[ "$output" != *"conflict: results/run1/m1.txt"* ]]
	run "$FERRY" pull --force train.py
	[ "$status" -eq 64 ]
	run "$FERRY" pull --force
	[ "$status" -eq 0 ]
	[ "$(cat results/run2/a1.txt)" = 'acc=0.99' ]
}

@test "ml repo: push --force PATH overwrites that path only" {
	"$FERRY" push >/dev/null
	echo 'server edit' >"$R/train.py"
	echo 'server edit' >"$R/src/model.py"
	echo 'laptop edit' >train.py
	echo 'laptop edit' >src/model.py
	run "$FERRY" push
	[ "$status" -eq 1 ]
	[[ "$output" == *"--force PATH"* ]]
	run "$FERRY" push --force ./train.py
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(cat "$R/train.py")" = 'laptop edit' ]
	[ "$(cat "$R/src/model.py")" = 'server edit' ]
	[[ "$output" == *"conflict: src/model.py"* ]]
	run "$FERRY" push --force src/
	[ "$status" -eq 0 ]
	[ "$(cat "$R/src/model.py")" = 'laptop edit' ]
	run "$FERRY" push --force ../elsewhere
	[ "$status" -eq 64 ]
	run "$FERRY" push stray
	[ "$status" -eq 64 ]
}

@test "ml repo: a push folder .gitignore ignores is walked for its tracked files" {
	printf '[sync]\npush = data, src\n' >>ferry.ini
	run --separate-stderr "$FERRY" ls-files
	echo "$output"
	[ "$status" -eq 0 ]
	expected=$(printf '%s\n' data/prepare.py src/model.py)
	[ "$output" = "$expected" ]
	# with nothing tracked inside, it stays ignored, and says so
	git rm -q --cached data/prepare.py
	run --separate-stderr "$FERRY" ls-files
	[ "$output" = src/model.py ]
	[[ "$stderr" == *"push folder 'data' is ignored"* ]]
}

@test "ml: push --ignored sends a dataset git ignores; a later push leaves it there" {
	mkdir -p data/shakespeare_char data/raw/big
	echo prep >data/shakespeare_char/prepare.py
	echo 'First Citizen:' >data/shakespeare_char/input.txt
	echo raw >data/raw/big/a
	printf 'data/shakespeare_char/input.txt\ndata/raw/\n' >.gitignore
	"$FERRY" push >/dev/null
	[ ! -e "$R/data/shakespeare_char/input.txt" ]
	run "$FERRY" push --ignored data/shakespeare_char/input.txt
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "pushed 1, "* ]]
	[ "$(cat "$R/data/shakespeare_char/input.txt")" = 'First Citizen:' ]
	[ ! -e "$R/data/raw" ]
	# a folder, named from a subfolder as git add would
	cd data
	run "$FERRY" push --ignored raw
	[ "$status" -eq 0 ]
	[ "$(cat "$R/data/raw/big/a")" = raw ]
	cd ..
	# a plain push leaves them on the server
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e "$R/data/shakespeare_char/input.txt" ] && [ -e "$R/data/raw/big/a" ]
	# refusals
	run "$FERRY" push --ignored nothere
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot push 'nothere'"* ]]
	mkdir -p results && echo r >results/r
	run "$FERRY" push --ignored results/r
	[ "$status" -eq 1 ]
	[[ "$output" == *"is in a pull folder"* ]]
	run "$FERRY" push --ignored /etc/passwd
	[ "$status" -eq 64 ]
	run "$FERRY" push --ignored
	[ "$status" -eq 64 ]
}
