#!/bin/bash
# The multicast wizard's form, driven in tmux (80x25): invalid values are
# refused as they are typed, with a visible message, and [ OK ] does not
# accept the form while one is bad; valid values are accepted, the address
# shown is the group img-protocol(7) gives the name, a client hides the
# master's fields, and the question before the session names the group.
# (The session itself: menu_session.sh.)  Also: resizing the terminal
# redraws the form, and Esc goes back without running anything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/menu_lib.sh"
e2e_init menu_wizard tmux
menu_init

blank "$WORK/d.img" $((32 << 20))
N=Lab-Room.7
G=$(sess_group "$N")

menu_start wz -- -disk=d.img
menu_need wz "Main menu" 20 "main menu"
menu_keys wz 4
menu_need wz "Session name" 10 "the wizard opens"
menu_expect wz "needs a valid name" 5 "no address without a name"

# name: a bad character, then a good name
menu_type wz "lab room"
menu_expect wz "session name 'lab room': use letters, digits" 5 "a space in the name is refused as typed"
menu_keys wz Enter Enter Enter Enter Enter Enter Enter
menu_expect wz "use letters, digits" 5 "OK with a bad name: still refused, message shown"
menu_keys wz C-u
menu_type wz "$N"
menu_expect wz "Multicast address of this session: ${G//./\\.}" 5 "the address of $N is $G"
menu_screen wz | grep -q "use letters, digits" && fail "the name message stays after a good name" ||
	pass "the name message is gone after a good name"

# clients: 0 and 999 are refused, 3 is taken
menu_keys wz Down Down
menu_type wz 0
menu_expect wz "Clients: a number from 1 to 256" 5 "clients 0 refused"
menu_keys wz BSpace
menu_type wz 999
menu_expect wz "Clients: a number from 1 to 256" 5 "clients 999 refused"
menu_keys wz C-u
menu_type wz 3
menu_wait wz "Clients: a number" 1 && fail "clients 3 still refused" || pass "clients 3 accepted"

# timeout: abc and 0 refused, 0.5 taken
menu_keys wz Down C-u
menu_type wz abc
menu_expect wz "Timeout: minutes after the last registration" 5 "timeout abc refused"
menu_keys wz C-u
menu_type wz 0
menu_expect wz "Timeout: minutes after the last registration" 5 "timeout 0 refused"
menu_keys wz C-u
menu_type wz 0.5
menu_wait wz "Timeout: minutes" 1 && fail "timeout 0.5 still refused" || pass "timeout 0.5 accepted"

# throttle: 20000 refused; then left bad and OK pressed: back on the field
menu_keys wz Down C-u
menu_type wz 20000
menu_expect wz "Throttle: milliseconds between packets, 0 to 10000" 5 "throttle 20000 refused"
menu_keys wz Down Down Enter
menu_expect wz "Throttle: milliseconds between packets" 5 "OK with a bad throttle: refused, message shown"
menu_expect wz "Throttle \(ms\) +20000 +_" 5 "the cursor is back on the bad field"
menu_keys wz C-u
menu_type wz 10

# compression: Speed, Balanced, Size, 0-9
menu_keys wz Down Right
menu_expect wz "Compression +< Balanced \(6\) >" 5 "compression: Balanced"
menu_keys wz Right Right
menu_expect wz "Compression +< 0 none >" 5 "compression: level 0"

# a resize redraws the whole form
tmux -S "$MENU_SOCK" resize-window -t wz -x 100 -y 30 2>/dev/null
menu_expect wz "Multicast address of this session: ${G//./\\.}" 5 "redrawn after a resize"
tmux -S "$MENU_SOCK" resize-window -t wz -x 80 -y 25 2>/dev/null
menu_expect wz "Compression +< 0 none >" 5 "redrawn at 80x25 again"

# client: the master's fields disappear
menu_keys wz Up Up Up Up Right
menu_expect wz "Role +< Client \(restores onto its disks\) >" 5 "role: client"
menu_screen wz | grep -Eq "Clients|Timeout|Throttle|Compression" &&
	fail "a client still shows the master's fields" || pass "a client shows no master fields"
menu_keys wz Left
menu_expect wz "Throttle \(ms\) +10" 5 "back to master: the fields are back with their values"

# accept: the question names the session, the group and the start rule
menu_keys wz Down Down Down Down Down Enter
menu_expect wz "Master the session $N on ${G//./\\.}" 10 "the question names session and group"
menu_expect wz "Starts when 3 clients have registered, or 0\.5 minutes" 5 "the question states the start rule"
menu_keys wz n
menu_need wz "Main menu" 10 "No: back to the main menu, nothing run"
menu_keys wz 4
menu_need wz "Session name" 10 "the wizard again"
menu_keys wz Escape
menu_quit wz
[ "$(sha "$WORK/d.img")" = "$(sha <(head -c $((32 << 20)) /dev/zero))" ] &&
	pass "the disk was not touched" || fail "the disk was written"
e2e_finish
