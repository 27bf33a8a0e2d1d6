#!/usr/bin/env bats
# Jobs over a real sshd on 127.0.0.1: they survive the death of the ssh
# client, of the ControlMaster and of the server-side sshd session.

load helpers
load push-lib
load jobs-lib
load outputs-lib

setup_file() { sshd_setup_file; }
teardown_file() { sshd_teardown_file; }

setup() {
	common_setup
	init_ssh_project
	R="$T/remote"
}
teardown() {
	lost_teardown
	jobs_teardown
	common_teardown
}

# A job that counts for a few seconds, so there is time to break things.
counting_job() {
	start_job --shell 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo tick $i; sleep 0.2; done; echo finished; exit 4'
}

check_survived() {
	"$FERRY" wait "$JOB" || true
	run "$FERRY" logs "$JOB"
	echo "$output"
	[[ "$output" == *"tick 1"*"tick 15"*"finished"* ]]
	[ "$(job_field "$JOB" state)" = failed ]
	[ "$(job_field "$JOB" exit_code)" = 4 ]
}

@test "jobs over ssh: run, logs -f, exit status" { check_jobs_basic; }
@test "jobs over ssh: snapshot isolation, live data and results" { check_jobs_snapshot; }
@test "jobs over ssh: attach through a real terminal" { check_jobs_attach; }
@test "jobs over ssh: a job's outputs are in the live project while it runs; rm keeps them" { check_job_outputs; }
@test "jobs over ssh: processes that outlive their supervisor are shown lost, and ferry kill stops them" { check_jobs_lost_alive; }

@test "jobs over ssh: survive the ssh client being killed mid-follow" {
	counting_job
	"$FERRY" logs -f "$JOB" >"$T/follow.out" 2>&1 &
	follower=$!
	sleep 0.6
	# the client and the ssh it started for this session
	pkill -9 -P "$follower" || true
	kill -9 "$follower"
	wait "$follower" 2>/dev/null || true
	check_survived
}

@test "jobs over ssh: survive the ControlMaster being killed" {
	counting_job
	sleep 0.4
	master=$(ssh -F "$SSHD_DIR/ssh_config" -o ControlPath="$(ls -d "$XDG_RUNTIME_DIR"/ferry/* | head -1)" -O check ferry-test 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
	[ -n "$master" ]
	kill -9 "$master"
	check_survived
}

@test "jobs over ssh: survive the server-side sshd sessions being killed" {
	counting_job
	sleep 0.4
	# every per-connection sshd under the listener
	pkill -9 -P "$SSHD_PID" || true
	sleep 0.2
	check_survived
}

@test "jobs over ssh: each project its own jobs; names and the latest job" {
	start_job --no-push -n here -- true
	a=$JOB
	mkdir "$T/projb"
	sed "s|^path = .*|path = $T/remoteb|" ferry.ini >"$T/projb/ferry.ini"
	cd "$T/projb"
	start_job --no-push -n there -- true
	b=$JOB
	run "$FERRY" wait there
	[ "$status" -eq 0 ]
	[[ "$output" == "job $b exited"* ]]
	run "$FERRY" jobs
	echo "$output"
	[[ "$output" == *"there"* ]]
	[[ "$output" != *" here "* ]]
	run "$FERRY" logs here
	[ "$status" -eq 1 ]
	[[ "$output" == *"no job named 'here' in this project"* ]]
	run "$FERRY" jobs --all
	[[ "$output" == *"$a "*"here"*"/remote "* ]]
	[[ "$output" == *"$b "*"there"*"/remoteb "* ]]
	cd "$T/proj"
	run "$FERRY" wait
	[[ "$output" == "job $a exited"* ]]
}
