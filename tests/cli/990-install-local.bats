#!/usr/bin/env bats
# What a user installs: `make install` into a staged prefix and `make deb`,
# with the client under test (FERRY) in place of the release one.  The
# installed client runs from its new home and finds its agents beside it;
# the man pages render without a warning; the bash, zsh and fish
# completions load and know every command and option that --help lists.

load helpers

setup_file() {
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	I=$(mktemp -d /tmp/fi.XXXXXX)
	chmod 755 "$I"
	export REPO I
	# Build outputs of this suite stay in $I; only the agents are shared
	# with the tree (make check builds them first).
	make -s -C "$REPO" install deb FERRY_BIN="$FERRY" MAN_OUT="$I/man" \
		DIST_OUT="$I/dist" DEB_STAGE="$I/debroot" DESTDIR="$I/root" PREFIX=/usr \
		>"$I/make.log" 2>&1 || { cat "$I/make.log" >&3; return 1; }
}

teardown_file() {
	[ -n "${I:-}" ] && rm -rf "$I"
}

setup() {
	common_setup
	P=$I/root/usr
	F=$P/bin/ferry
}
teardown() {
	common_teardown
}

commands() {
	"$FERRY" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# The options an entry of `ferry CMD --help` starts with: -e and --env
# from "  -e, --env K=V   ...".
help_options() {
	"$FERRY" "$@" --help | grep -E '^ {2,}-' | sed -E 's/^ +//; s/  .*//' |
		tr ',' '\n' | sed -E 's/^ +//; s/[ =].*//' | grep -E '^-' | sort -u
}

@test "install: the layout, modes, and nothing left in the stage" {
	[ -x "$F" ]
	for a in "$REPO"/build/agents/ferry-agent-linux-*; do
		n=${a##*/}
		[ "$(stat -c %a "$P/libexec/ferry/$n")" = 755 ]
		cmp "$a" "$P/libexec/ferry/$n"
	done
	[ -f "$P/share/man/man1/ferry.1" ]
	[ -f "$P/share/bash-completion/completions/ferry" ]
	[ -f "$P/share/zsh/vendor-completions/_ferry" ]
	[ -f "$P/share/fish/vendor_completions.d/ferry.fish" ]
	[ -f "$P/share/doc/ferry/README.md" ]
	for d in "$REPO"/docs/*.md; do
		cmp "$d" "$P/share/doc/ferry/docs/${d##*/}"
	done
	[ "$(find "$I/root" -name '*.tmp' | wc -l)" = 0 ]
}

@test "install: the installed ferry runs from its prefix and says its version" {
	run "$F" --version
	[ "$status" = 0 ]
	[ "${lines[0]}" = "$("$FERRY" --version | head -n 1)" ]
	[[ $output == "ferry $(sed -n 's/^VERSION *:= *//p' "$REPO/Makefile")"* ]]
	# The quick start's first steps, with the installed client.
	"$F" init --local "$T/remote" >/dev/null
	echo 'print("hi")' >train.py
	"$F" push -q
	run "$F" exec -- cat train.py
	[ "$status" = 0 ]
	[ "$output" = 'print("hi")' ]
}

@test "install: ferry --version lists the agents of ../libexec/ferry" {
	unset FERRY_AGENT_BUNDLE
	run "$F" --version
	[[ $output == *x86_64* ]] || skip "this ferry --version lists no agent platforms yet"
	for a in "$P"/libexec/ferry/ferry-agent-linux-*; do
		[[ $output == *"${a##*ferry-agent-linux-}"* ]]
	done
	# Found beside the executable, not in the source tree: moved away,
	# they are gone from the list.
	mv "$P/libexec/ferry" "$P/libexec/ferry.away"
	run "$F" --version
	mv "$P/libexec/ferry.away" "$P/libexec/ferry"
	[[ $output != *aarch64* ]]
}

@test "man: every page renders without a warning; ferry.1 has every command" {
	n=0
	for m in "$P"/share/man/man1/*.1 "$P"/share/man/man7/*.7; do
		run groff -man -ww -z "$m"
		[ "$status" = 0 ]
		[ -z "$output" ] || { echo "$m: $output"; false; }
		if command -v man >/dev/null; then
			w=$(man --warnings -l "$m" 2>&1 >/dev/null)
			[ -z "$w" ] || { echo "$m: $w"; false; }
		fi
		n=$((n + 1))
	done
	# ferry.1 plus one page per docs/*.md.
	[ "$n" = $(($(ls "$REPO"/docs/*.md | wc -l) + 1)) ]
	if command -v man >/dev/null; then
		run man -M "$P/share/man" -w ferry-push
		[ "$output" = "$P/share/man/man1/ferry-push.1" ]
	fi
	page=$(groff -man -Tascii -P-cbou "$P/share/man/man1/ferry.1" 2>/dev/null)
	for c in $(commands); do
		[[ $page == *"ferry $c"* ]] || { echo "ferry.1 lacks $c"; false; }
	done
	[[ $page == *"--dry-run"* ]]
}

# bash_complete WORD...: what Tab offers after those words.
bash_complete() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ferry
		printf "%s\n" "${COMPREPLY[@]}"' _ "$P/share/bash-completion/completions/ferry" "$@"
}

@test "completion: bash loads and completes every command and option" {
	run bash -c 'source "$1"; complete -p ferry' _ "$P/share/bash-completion/completions/ferry"
	[ "$status" = 0 ]
	[ "$output" = "complete -F _ferry ferry" ]
	got=$(bash_complete ferry '')
	for c in $(commands); do
		grep -qx -- "$c" <<<"$got" || { echo "no command $c"; false; }
	done
	for c in $(commands); do
		got=$(bash_complete ferry "$c" -)
		[ "$c" = jobs ] && got+=$'\n'$(bash_complete ferry jobs prune -)
		for o in $(help_options "$c"); do
			grep -qx -- "$o" <<<"$got" || { echo "ferry $c: no $o"; false; }
		done
	done
	[ "$(bash_complete ferry kill -s K)" = KILL ]
	[ "$(bash_complete ferry -C / pus)" = push ]
}

@test "completion: zsh parses the file and compinit picks it up" {
	command -v zsh >/dev/null || skip "no zsh"
	z=$P/share/zsh/vendor-completions/_ferry
	zsh -n "$z"
	run zsh -fc 'fpath=($1 $fpath); autoload -Uz compinit; compinit -u -d "$2"; print -r -- $_comps[ferry]' \
		_ "${z%/*}" "$T/zcompdump"
	[ "$output" = _ferry ]
	for c in $(commands); do
		grep -q "^		'$c:\|^		\"$c:" "$z" || { echo "no command $c"; false; }
		for o in $(help_options "$c"); do
			grep -qF -e "{$o," -e ",$o}" -e "'$o[" -e "\"$o[" -- "$z" ||
				{ echo "ferry $c: no $o"; false; }
		done
	done
}

@test "completion: fish parses the file and completes every command and option" {
	command -v fish >/dev/null || skip "no fish"
	f=$P/share/fish/vendor_completions.d/ferry.fish
	fish -n "$f"
	got=$(fish -c 'source $argv[1]; complete -C "ferry "' "$f" | cut -f1)
	for c in $(commands); do
		grep -qx -- "$c" <<<"$got" || { echo "no command $c"; false; }
	done
	for c in $(commands); do
		got=$(fish -c 'source $argv[1]; complete -C "ferry $argv[2] -"; complete -C "ferry $argv[2] prune -"' "$f" "$c" | cut -f1)
		for o in $(help_options "$c"); do
			grep -qx -- "$o" <<<"$got" || { echo "ferry $c: no $o"; false; }
		done
	done
}

@test "deb: control fields and the files it installs" {
	deb=$(ls "$I"/dist/ferry_*.deb)
	[[ ${deb##*/} == ferry_*_$(dpkg --print-architecture).deb ]]
	run dpkg-deb -f "$deb" Package Architecture Depends
	[ "$status" = 0 ]
	[[ $output == *"Package: ferry"* ]]
	[[ $output == *"Architecture: $(dpkg --print-architecture)"* ]]
	[[ $output == *"Depends: openssh-client"* ]]
	run dpkg-deb -I "$deb"
	[[ $output == *"Description: "* ]]
	run dpkg-deb -c "$deb"
	[ "$status" = 0 ]
	for f in ./usr/bin/ferry ./usr/libexec/ferry/ferry-agent-linux-x86_64 \
		./usr/share/man/man1/ferry.1.gz ./usr/share/man/man1/ferry-push.1.gz \
		./usr/share/bash-completion/completions/ferry ./usr/share/zsh/vendor-completions/_ferry \
		./usr/share/fish/vendor_completions.d/ferry.fish ./usr/share/doc/ferry/README.md; do
		grep -q " $f\$" <<<"$output" || { echo "deb lacks $f"; false; }
	done
	# root-owned, whoever built it
	[ -z "$(grep -v ' root/root ' <<<"$output")" ]
	dpkg-deb -x "$deb" "$T/x"
	run "$T/x/usr/bin/ferry" --version
	[ "$status" = 0 ]
	[ "${lines[0]}" = "$("$FERRY" --version | head -n 1)" ]
}
