#!/usr/bin/env bats
# With no usable HOME on the server, ferry's state goes to one private
# per-user folder, /tmp/ferry-UID, checked through what was opened: another
# user who made it first (or planted a symlink there) gets a refusal,
# never the user's sync state or jobs.  The "server" is the local target,
# run as a uid the password database does not know.

load helpers

U=54321

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root to run as another uid"
	getent passwd "$U" >/dev/null && skip "uid $U exists here"
	command -v setpriv >/dev/null || skip "no setpriv"
	common_setup
	S="/tmp/ferry-$U"
	rm -rf "$S"
	R="$T/remote"
	mkdir -p "$R"
	echo 'print("hi")' >"$T/proj/train.py"
	"$FERRY" init --local "$R" >/dev/null
	chown -R "$U:$U" "$T/proj" "$R"
}
teardown() {
	rm -rf "${S:?}"
	common_teardown
}

# as CMD...: CMD as uid U, with no HOME and no XDG folders.
as() {
	setpriv --reuid="$U" --regid="$U" --clear-groups \
		env -u HOME -u XDG_STATE_HOME -u XDG_CACHE_HOME -u XDG_RUNTIME_DIR "$@"
}

@test "no HOME and no password entry: sync state and jobs in one private /tmp/ferry-UID" {
	run as "$FERRY" push
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(stat -c '%u %a %F' "$S")" = "$U 700 directory" ]
	[ -d "$S/roots" ]
	[ "$(stat -c '%u %a' "$S/roots")" = "$U 700" ]
	[ ! -e /tmp/.local/state/ferry ] || [ "$(stat -c %u /tmp/.local/state/ferry)" != "$U" ]
	run as "$FERRY" run --no-push --no-login-env -- python3 train.py
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$S/jobs/$output/record" ]
}

@test "no HOME: a /tmp/ferry-UID made first by another user is refused" {
	mkdir -m 777 "$S"	# root's, open to all
	run as "$FERRY" push
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot use the state folder '$S': is owned by another user"* ]]
	[ -z "$(ls -A "$S")" ]
	run as "$FERRY" run --no-push --no-login-env -- python3 train.py
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is owned by another user"* ]]
	[ -z "$(ls -A "$S")" ]
}

@test "no HOME: a symlink planted at /tmp/ferry-UID is refused, not followed" {
	mkdir -m 700 "$T/trap"
	chown "$U:$U" "$T/trap"
	ln -s "$T/trap" "$S"
	run as "$FERRY" push
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"is a symbolic link"* ]]
	[ -z "$(ls -A "$T/trap")" ]
}
