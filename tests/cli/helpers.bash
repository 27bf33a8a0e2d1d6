# helpers.bash - shared setup for ferry's command-line tests.
#
# Every test gets a private HOME, project folder and runtime dir under one
# short temp dir (socket paths are limited to ~104 bytes).  The sshd
# helpers start a real sshd on 127.0.0.1 with a private config, keys and
# known_hosts; nothing under /etc/ssh or the real ~/.ssh is touched.

: "${FERRY:?FERRY must point at the ferry binary under test}"
if type bats_require_minimum_version >/dev/null 2>&1; then
	bats_require_minimum_version 1.5.0
fi

common_setup() {
	T=$(mktemp -d /tmp/ft.XXXXXX)
	chmod 755 "$T"
	export HOME="$T/home" XDG_RUNTIME_DIR="$T/run" XDG_CACHE_HOME="$T/home/.cache"
	# The user's own ferry file (ssh_command lives there, see
	# init_ssh_project), never the real one.
	export XDG_CONFIG_HOME="$T/home/.config"
	USER_CONFIG="$XDG_CONFIG_HOME/ferry/config.ini"
	mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$T/proj"
	chmod 700 "$XDG_RUNTIME_DIR"
	unset FERRY_SSH_COMMAND
	# The client under test is the agent (its ASan build: the agent's
	# code is checked too), wherever FERRY lies; the 150 suites set the
	# static agents' bundle themselves.
	export FERRY_AGENT_BUNDLE=
	cd "$T/proj"
}

common_teardown() {
	stop_masters "$XDG_RUNTIME_DIR/ferry"
	cd /
	[ -n "${T:-}" ] && rm -rf "$T"
}

# ControlPersist masters outlive the test: ask each one to exit.
stop_masters() {
	local s
	for s in "$1"/*; do
		[ -S "$s" ] && ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1
	done
	return 0
}

free_port() {
	python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# start_sshd DIR: keys, config and a running sshd for the current user (or
# any user when root).  Sets SSHD_PID, SSHD_PORT, SSHD_DIR.
start_sshd() {
	SSHD_DIR=$1
	mkdir -p "$SSHD_DIR"
	chmod 755 "$SSHD_DIR"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/hostkey"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/userkey"
	cp "$SSHD_DIR/userkey.pub" "$SSHD_DIR/authorized_keys"
	chmod 644 "$SSHD_DIR/authorized_keys"
	SSHD_PORT=$(free_port)
	cat >"$SSHD_DIR/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $SSHD_DIR/hostkey
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PidFile $SSHD_DIR/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
SetEnv XDG_CACHE_HOME=$SSHD_DIR/remote-cache ${SSHD_SETENV:-XDG_STATE_HOME=$SSHD_DIR/remote-state} FERRY_TEST_SSHD=1
${SSHD_EXTRA:-}
CFG
	[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
	/usr/sbin/sshd -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" &
	SSHD_PID=$!
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null && exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT"; then
			local banner=""
			read -r -t 2 banner <&3 || true
			exec 3<&- 3>&-
			case $banner in SSH-2.0-*) break ;; esac
		fi
		sleep 0.05
	done
	echo "[127.0.0.1]:$SSHD_PORT $(cat "$SSHD_DIR/hostkey.pub")" >"$SSHD_DIR/known_hosts"
	write_ssh_config "$SSHD_DIR/ssh_config" "$(id -un)" "$SSHD_DIR/userkey" "$SSHD_PORT"
}

# Runs "$@" without root's power over file modes (as root: CAP_DAC_OVERRIDE
# and CAP_DAC_READ_SEARCH out of its bounding set, setpriv from
# util-linux), so a file with mode 000 is as unreadable to it as to any
# user; as anyone else it simply runs "$@".
no_dac() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --bounding-set=-dac_override,-dac_read_search \
			--inh-caps=-dac_override,-dac_read_search -- "$@"
	else
		"$@"
	fi
}

# write_ssh_config FILE USER KEY PORT: a client config with host alias
# "ferry-test" and no prompt ever.
write_ssh_config() {
	cat >"$1" <<CFG
Host ferry-test
	HostName 127.0.0.1
	Port $4
	User $2
	IdentityFile $3
	IdentitiesOnly yes
	UserKnownHostsFile $SSHD_DIR/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
CFG
}

stop_sshd() {
	[ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
	[ -n "${SSHD_PID:-}" ] && wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	return 0
}

# An ssh project: ferry.ini pointing at the test sshd, agents kept in the
# test dir.  The ssh command is where a user keeps theirs: in their own
# file, for the host (a project's ferry.ini would need `ferry trust`).
init_ssh_project() {
	"$FERRY" init ferry-test:"$T/remote" >/dev/null
	mkdir -p "${USER_CONFIG%/*}"
	printf '[host "ferry-test"]\nssh_command = ssh -F %s\n' "$SSHD_DIR/ssh_config" >"$USER_CONFIG"
	printf 'agent_dir = %s\n' "$SSHD_DIR/agents" >"$T/extra"
	# Put the extra keys into [target] (before [sync]).
	awk -v extra="$T/extra" '/^\[sync\]/ { while ((getline l < extra) > 0) print l; print "" } { print }' \
		ferry.ini >ferry.ini.new && mv ferry.ini.new ferry.ini
}

# ensure_test_user NAME: an ordinary user sshd accepts (root only).
ensure_test_user() {
	if ! id "$1" >/dev/null 2>&1; then
		useradd -m -s /bin/bash "$1"
	fi
	# useradd leaves the password locked ('!'), which sshd refuses without PAM.
	usermod -p '*' "$1"
}

# For bats files that share one sshd across their tests.
sshd_setup_file() {
	export SSHD_TOP
	SSHD_TOP=$(mktemp -d /tmp/fs.XXXXXX)
	chmod 755 "$SSHD_TOP"
	start_sshd "$SSHD_TOP"
	export SSHD_DIR SSHD_PORT SSHD_PID
}

sshd_teardown_file() {
	stop_sshd
	rm -rf "$SSHD_TOP"
}

# kill_test_agents [SIGNAL]: agents and job supervisors started by this test
# (their environment names the test's folders), not every ferry on the
# machine.
kill_test_agents() {
	local p mark i killed=()
	for p in $(pgrep -f '[f]erry agent' 2>/dev/null); do
		for mark in "$T" ${SSHD_DIR:+"$SSHD_DIR"}; do
			if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q -- "$mark"; then
				kill "-${1:-9}" "$p" 2>/dev/null && killed+=("$p")
				break
			fi
		done
	done
	# SIGKILL: gone (or a zombie) before the test goes on.  kill()
	# returns before the process has died (an ASan build takes a while
	# to unmap), and a sync's sweep leaves the temp files of a writer
	# that still runs.
	if [ "${1:-9}" = 9 ] || [ "${1:-9}" = KILL ]; then
		for p in "${killed[@]}"; do
			for ((i = 0; i < 100; i++)); do
				[ -e "/proc/$p" ] || break
				[ "$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)" = Z ] && break
				sleep 0.05
			done
		done
	fi
	return 0
}

# slow_link RATE: this test's ssh goes through tests/cli/slow-link.py, at
# most RATE bytes a second each way (the test's runtime dir is new, so
# its ControlMaster is made through the slow link too).
slow_link() {
	sed "/^Host ferry-test/a\\	ProxyCommand python3 $BATS_TEST_DIRNAME/slow-link.py %h %p $1" \
		"$SSHD_DIR/ssh_config" >"$T/slow_config"
	sed -i "s|ssh -F $SSHD_DIR/ssh_config|ssh -F $T/slow_config|" "$USER_CONFIG"
}

# The same with DELAY_MS ($1) of latency each way and RATE bytes a second
# ($2): the benchmark's relay (bench/delay-relay.py).
long_link() {
	sed "/^Host ferry-test/a\\	ProxyCommand python3 $BATS_TEST_DIRNAME/../../bench/delay-relay.py %h %p $1 $2" \
		"$SSHD_DIR/ssh_config" >"$T/slow_config"
	sed -i "s|ssh -F $SSHD_DIR/ssh_config|ssh -F $T/slow_config|" "$USER_CONFIG"
}

# no_raw_controls: $output (stdout and stderr of `run`) holds nothing a
# terminal acts on: no control byte but the newlines ending lines, no C1
# control (lone or as UTF-8), and it is valid UTF-8.
no_raw_controls() {
	printf '%s\n' "$output" >"$T/shown"
	if LC_ALL=C grep -naP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$T/shown" >"$T/raw"; then
		echo "raw control bytes reached the terminal:"
		od -c "$T/raw" | head -20
		return 1
	fi
	iconv -f UTF-8 -t UTF-8 "$T/shown" >/dev/null
}
