#!/bin/bash
# menu_lib.sh - drive the img menu in tmux (80x25), for the menu_*.sh
# tests.  Source it after lib.sh and e2e_init.  Each test gets its own
# tmux server (socket $WORK/tmux), killed at exit with every session in it.
#
#   menu_start TAG [NODE] -- IMG-ARGS...   runs img in tmux session TAG (in
#                                          bed node NODE when given), in
#                                          $WORK (short names fit the screen); its
#                                          stderr goes to $WORK/TAG.stderr,
#                                          its exit status to $WORK/TAG.rc
#   menu_keys TAG KEY...                   tmux key names (Enter, Down, y ...)
#   menu_type TAG TEXT                     literal text
#   menu_wait TAG REGEX SECS               until the screen matches (ERE)
#   menu_expect TAG REGEX SECS WHAT        the same as an assertion
#   menu_exited TAG SECS                   waits for img to end; RC its status
MENU_TAGS=()

menu_exit() {
	local rc=$?
	tmux -S "$MENU_SOCK" kill-server 2>/dev/null
	if [ -n "${BED_PREFIX:-}" ]; then (exit $rc); bed_exit; else (exit $rc); e2e_cleanup; fi
}

menu_init() {
	command -v tmux >/dev/null 2>&1 || skip "missing tool tmux"
	MENU_SOCK=$WORK/tmux
	trap menu_exit EXIT
}

menu_start() {
	local tag=$1 node=""
	shift
	if [ "$1" != -- ]; then node=$1; shift; fi
	shift
	local cmd="" a
	for a in "$IMG" "$@"; do cmd+=" $(printf '%q' "$a")"; done
	[ -n "$node" ] && cmd="$(printf '%q' "$NETBED") exec $BED_PREFIX $node$cmd"
	rm -f "$WORK/$tag.rc"
	note "[$tag] tmux: img $*${node:+ (bed node $node)}"
	tmux -S "$MENU_SOCK" -f /dev/null new-session -d -s "$tag" -x 80 -y 25 -c "$WORK" \
		"$cmd 2>$(printf '%q' "$WORK/$tag.stderr"); echo \$? >$(printf '%q' "$WORK/$tag.rc")" ||
		fatal "tmux new-session $tag"
	# bed_up replaces the EXIT trap; ours runs the bed's cleanup too
	trap menu_exit EXIT
	MENU_TAGS+=("$tag")
}

menu_screen() { tmux -S "$MENU_SOCK" capture-pane -p -t "$1" 2>/dev/null; }
menu_keys() { local t=$1; shift; tmux -S "$MENU_SOCK" send-keys -t "$t" "$@"; }
menu_type() { tmux -S "$MENU_SOCK" send-keys -t "$1" -l -- "$2"; }

menu_wait() {
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		menu_screen "$1" | grep -Eq -- "$2" && return 0
		[ -f "$WORK/$1.rc" ] && break
		sleep 0.1
	done
	menu_screen "$1" | grep -Eq -- "$2"
}

menu_show() {
	echo "# [$1] screen:"
	menu_screen "$1" | sed 's/^/#   | /'
	[ -s "$WORK/$1.stderr" ] && sed "s/^/#   $1 stderr: /" "$WORK/$1.stderr" | head -30
	return 0
}

menu_expect() {
	if menu_wait "$1" "$2" "$3"; then
		pass "$4: screen shows /$2/"
	else
		fail "$4: screen does not show /$2/ within $3 s"
		menu_show "$1"
	fi
}
# menu_need: as menu_expect, but the test cannot go on without it
menu_need() {
	menu_wait "$1" "$2" "$3" && { pass "$4: screen shows /$2/"; return 0; }
	menu_show "$1"
	fatal "$4: screen does not show /$2/ within $3 s"
}

menu_exited() {
	local end=$((SECONDS + $2))
	while [ ! -s "$WORK/$1.rc" ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
	RC=$(cat "$WORK/$1.rc" 2>/dev/null || echo timeout)
	if [ "$RC" = 0 ] && ! grep -q . "$WORK/$1.stderr" 2>/dev/null; then
		pass "[$1] img left the menu with status 0, nothing on stderr"
	else
		fail "[$1] img status $RC; stderr: $(head -c 600 "$WORK/$1.stderr" 2>/dev/null)"
		menu_show "$1"
	fi
}

# menu_quit TAG: from the main menu to the shell
menu_quit() {
	menu_need "$1" "Main menu" 20 "back at the main menu"
	menu_keys "$1" 7
	menu_exited "$1" 20
}
