# outputs-lib.bash - what a job writes is never lost: checked on every
# target.  The caller's project points at the target; $R is the
# server-side project folder.  Needs jobs-lib.

# A small ML project: a .gitignore like most, a data preparation script
# that writes beside itself, and a training script that writes outputs/,
# wandb/, a checkpoint folder and a log at the top while it runs.
ml_project() {
	git init -q .
	printf 'results/\noutputs/\nwandb/\n*.ckpt\n*.pt\n.venv/\ndata/raw/\n__pycache__/\n*.bin\n' >.gitignore
	mkdir -p data/shakespeare_char
	cat >data/shakespeare_char/prepare.py <<'PY'
import os
d = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(d, "train.bin"), "wb") as f:
    f.write(bytes(range(256)) * 40)
open(os.path.join(d, "meta.pkl"), "wb").write(b"vocab")
print("prepared")
PY
	cat >train.py <<'PY'
import os, sys, time
n = len(open("data/shakespeare_char/train.bin", "rb").read())
run = "outputs/2026-12-07/10-00-00"
os.makedirs(run, exist_ok=True)
os.chdir(run)
open("train.log", "w").write(f"read {n} bytes\n")
os.chdir("../../..")
os.makedirs("wandb/run-1/files", exist_ok=True)
open("wandb/run-1/files/summary.json", "w").write('{"loss": 1.5}')
os.makedirs("out-shakespeare-char", exist_ok=True)
with open("train_log.txt", "a") as log:
    log.write("step 0\n")
for i in range(20):
    # an atomic checkpoint save, keeping the last three
    with open("out-shakespeare-char/ckpt.pt.tmp", "wb") as f:
        f.write(b"step %d" % i)
    os.replace("out-shakespeare-char/ckpt.pt.tmp", "out-shakespeare-char/ckpt.pt")
    with open(f"model_{i}.pt.tmp", "wb") as f:
        f.write(b"model %d" % i)
    os.replace(f"model_{i}.pt.tmp", f"model_{i}.pt")
    if i >= 3:
        os.remove(f"model_{i-3}.pt")
print("ckpt", open("out-shakespeare-char/ckpt.pt", "rb").read().decode(), flush=True)
print("model", open("model_19.pt", "rb").read().decode(), flush=True)
if len(sys.argv) > 1:
    open("waiting", "w").write("1")
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.05)
with open("train_log.txt", "a") as log:
    log.write("done\n")
PY
	git add -A
	git -c user.name=t -c user.email=t@example.com commit -qm 'a small ML project'
}

wait_for() {	# wait_for PATH: a folder a job made moves a second after it appears
	local i
	for i in $(seq 1 50); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "never appeared: $1"
	return 1
}

check_job_outputs() {
	ml_project
	# prepare writes beside itself, in a folder of pushed code
	run "$FERRY" run -f -- python3 data/shakespeare_char/prepare.py
	echo "$output"
	[ "$status" -eq 0 ]
	prep=$("$FERRY" jobs --json | python3 -c 'import json,sys; print(max(json.loads(l)["id"] for l in sys.stdin))')
	[ "$(stat -c %s "$R/data/shakespeare_char/train.bin")" = 10240 ]
	[ "$(cat "$R/data/shakespeare_char/meta.pkl")" = vocab ]
	# training of edited code (another snapshot) finds them, and its
	# outputs are in the live project while it runs
	echo '# tuned' >>train.py
	start_job -- python3 train.py "$R/go"
	train=$JOB
	for _ in $(seq 1 100); do [ -e "$R/waiting" ] && break; sleep 0.1; done
	[ -e "$R/waiting" ]
	wait_for "$R/outputs/2026-12-07/10-00-00/train.log"
	wait_for "$R/wandb/run-1/files/summary.json"
	wait_for "$R/out-shakespeare-char/ckpt.pt"
	[ "$(cat "$R/outputs/2026-12-07/10-00-00/train.log")" = "read 10240 bytes" ]
	[ "$(cat "$R/wandb/run-1/files/summary.json")" = '{"loss": 1.5}' ]
	[ "$(cat "$R/train_log.txt")" = "step 0" ]
	[ "$(cat "$R/out-shakespeare-char/ckpt.pt")" = "step 19" ]
	# the atomic saves and the rotation, as the job did them
	[ "$(cat "$R/model_19.pt")" = "model 19" ]
	[ "$(ls "$R" | grep -c '^model_')" = 3 ]
	[ -z "$(ls -A "$R" | grep -e '\.tmp$' -e '^\.ferry-tmp')" ]
	touch "$R/go"
	run "$FERRY" wait "$train"
	[ "$status" -eq 0 ]
	run "$FERRY" logs "$train"
	[[ "$output" == *"ckpt step 19"* ]]
	[[ "$output" == *"model model 19"* ]]
	[ "$(cat "$R/train_log.txt")" = "$(printf 'step 0\ndone')" ]
	# the job lists what it wrote
	run "$FERRY" jobs show "$train"
	echo "$output"
	[[ "$output" == *"wrote:     "*"(in the project folder)"* ]]
	"$FERRY" jobs show --json "$train" | python3 -c 'import json,sys; o=json.load(sys.stdin)["outputs"]; assert set(o) == {"outputs", "wandb", "out-shakespeare-char", "train_log.txt", "model_17.pt", "model_18.pt", "model_19.pt", "waiting"}, o'

	"$FERRY" jobs show --json "$prep" | python3 -c 'import json,sys; o=json.load(sys.stdin)["outputs"]; assert "data/shakespeare_char/train.bin" in o and "data/shakespeare_char/meta.pkl" in o, o'
	# pull --job brings what one job wrote, wherever it wrote it
	run "$FERRY" pull --job "$train" wandb
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat wandb/run-1/files/summary.json)" = '{"loss": 1.5}' ]
	[ ! -e outputs ]
	run "$FERRY" pull --job "$train"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(cat outputs/2026-12-07/10-00-00/train.log)" = "read 10240 bytes" ]
	[ "$(cat train_log.txt)" = "$(printf 'step 0\ndone')" ]
	[ "$(cat out-shakespeare-char/ckpt.pt)" = "step 19" ]
	[ "$(ls | grep -c '^model_')" = 3 ]
	run "$FERRY" pull --job "$prep"
	[ "$(stat -c %s data/shakespeare_char/train.bin)" = 10240 ]
	# a plain pull leaves them be, quietly; a second job pull finds them current
	run "$FERRY" pull
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"kept"* ]]
	run "$FERRY" pull --job "$train"
	[[ "$output" == "pulled 0, deleted 0, 0 conflicts"* ]]
	run "$FERRY" pull --job "$train" nowhere
	[ "$status" -eq 1 ]
	[[ "$output" == *"wrote nothing under nowhere"* ]]
	# rm takes records, logs and code snapshots, never outputs
	run "$FERRY" jobs rm "$prep" "$train"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"stays in"* ]]
	[ -z "$(ls "$R/.ferry/snap")" ]
	[ "$(stat -c %s "$R/data/shakespeare_char/train.bin")" = 10240 ]
	[ "$(cat "$R/outputs/2026-12-07/10-00-00/train.log")" = "read 10240 bytes" ]
	[ -f "$R/wandb/run-1/files/summary.json" ]
	[ "$(cat "$R/train_log.txt")" = "$(printf 'step 0\ndone')" ]
	[ "$(cat "$R/out-shakespeare-char/ckpt.pt")" = "step 19" ]
	[ "$(cat "$R/model_19.pt")" = "model 19" ]
	# and a push does not take them for the user's deletions
	run "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$R/train_log.txt" ]
}

# Two jobs of the same code at once: each one's files are its own, in the
# live project.
check_job_outputs_shared() {
	mkdir -p src
	cat >src/w.py <<'PY'
import os, sys
tag = sys.argv[1]
for i in range(30):
    with open(f"out_{tag}.tmp", "w") as f:
        f.write(str(i))
    os.replace(f"out_{tag}.tmp", f"out_{tag}.txt")
    open(f"src/gen_{tag}.txt", "a").write(f"{i}\n")
print("final", open(f"out_{tag}.txt").read())
PY
	start_job -- python3 src/w.py a
	a=$JOB
	start_job --no-push -- python3 src/w.py b
	b=$JOB
	[ "$(job_field "$a" snapshot)" = "$(job_field "$b" snapshot)" ]
	"$FERRY" wait "$a" "$b"
	run "$FERRY" logs "$a"
	[[ "$output" == *"final 29"* ]]
	run "$FERRY" logs "$b"
	[[ "$output" == *"final 29"* ]]
	[ "$(cat "$R/out_a.txt")" = 29 ]
	[ "$(cat "$R/out_b.txt")" = 29 ]
	[ "$(wc -l <"$R/src/gen_a.txt")" = 30 ]
	[ "$(wc -l <"$R/src/gen_b.txt")" = 30 ]
	[ -z "$(ls -A "$R" | grep -e '\.tmp$' -e '^\.ferry-tmp')" ]
}

# What cannot move (the live project has a folder where the job made a
# file) stays in the snapshot, said in the log, and keeps the snapshot
# through rm; so does a snapshot made before code lists were kept.
check_job_outputs_kept() {
	echo 'print(1)' >a.py
	"$FERRY" push >/dev/null
	start_job -- sh -c 'while [ ! -e results/go ]; do sleep 0.05; done; echo mine >report'
	mkdir -p "$R/report"
	touch "$R/results/go"
	"$FERRY" wait "$JOB"
	snap=$(job_field "$JOB" snapshot)
	[ "$(cat "$R/.ferry/snap/$snap/report")" = mine ]
	run "$FERRY" logs "$JOB"
	echo "$output"
	[[ "$output" == *"left in the code snapshot"*"report"* ]]
	run "$FERRY" jobs rm "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept .ferry/snap/$snap/report"* ]]
	[ "$(cat "$R/.ferry/snap/$snap/report")" = mine ]
	# a snapshot without its code list (an older ferry's)
	echo 'print(2)' >a.py
	start_job -- true
	"$FERRY" wait "$JOB" >/dev/null
	snap2=$(job_field "$JOB" snapshot)
	rm "$R/.ferry/snap/$snap2.code"
	run "$FERRY" jobs rm "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept .ferry/snap/$snap2: made by an older ferry"* ]]
	[ -d "$R/.ferry/snap/$snap2" ]
}

# What a review found: a log rotated over one that existed before the
# job; a link the job makes to a live file; two jobs of different code
# writing one name; the job's own .ferry; a pushed file the job replaced.
check_job_outputs_hard_cases() {
	mkdir -p src
	echo 'print(1)' >src/a.py
	echo 'v: 1' >cfg.yaml
	"$FERRY" push >/dev/null
	echo RUN1 >"$R/app.log"
	cat >src/rotate.py <<'PY'
import os
for i in range(2, 0, -1):
    if os.path.exists(f"app.log.{i}"):
        os.replace(f"app.log.{i}", f"app.log.{i+1}")
os.replace("app.log", "app.log.1")
open("app.log", "w").write("RUN2\n")
os.replace("app.log.1", "app.log.2")
open("ckpt_1.pt", "w").write("CKPT1")
os.symlink(os.path.abspath("ckpt_1.pt"), "latest.pt")
os.makedirs(".ferry/snap", exist_ok=True)
open(".ferry/snap/zz.code", "w").write("not ferry's")
with open("cfg.yaml.tmp", "w") as f:
    f.write("v: 2\n")
os.replace("cfg.yaml.tmp", "cfg.yaml")
PY
	start_job -- python3 src/rotate.py
	run "$FERRY" wait "$JOB"
	[ "$status" -eq 0 ]
	# the log that was there before: renamed, never lost
	[ "$(cat "$R/app.log.2")" = RUN1 ]
	[ "$(cat "$R/app.log")" = RUN2 ]
	[ ! -e "$R/app.log.1" ]
	# the job's link to its checkpoint: the checkpoint stays
	[ "$(cat "$R/ckpt_1.pt")" = CKPT1 ]
	# ferry's own state is not the job's to write
	[ ! -e "$R/.ferry/snap/zz.code" ]
	# the pushed file the job replaced: the project keeps the pushed one,
	# the snapshot (with the job's) is kept by rm, which says so
	[ "$(cat "$R/cfg.yaml")" = "v: 1" ]
	snap=$(job_field "$JOB" snapshot)
	run "$FERRY" jobs rm "$JOB"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept .ferry/snap/$snap/cfg.yaml: a pushed file the job replaced"* ]]
	[ "$(cat "$R/.ferry/snap/$snap/cfg.yaml")" = "v: 2" ]
	# two jobs of different code: the one that ends last does not put its
	# older file back over the newer one
	echo 'import time, sys; open("results.json", "w").write("A"); time.sleep(float(sys.argv[1]))' >src/a.py
	start_job -- python3 src/a.py 2
	a=$JOB
	sleep 0.5
	echo 'open("results.json", "w").write("B")' >src/b.py
	start_job -- python3 src/b.py
	"$FERRY" wait "$JOB" "$a" >/dev/null
	[ "$(cat "$R/results.json")" = B ]
}
