#!/bin/bash
# A multicast session run from the menu's wizard: the master is the menu in
# tmux (80x25) in node m of the network test bed, on a GPT fixture disk;
# two clients are started from the command line in nodes 1 and 2 onto
# blank disks.  First a master that waits is cancelled (asked first; the
# outcome says the disks were only read).  Then the master lists the
# registered clients live, the s key starts the session, the outcome lists
# both clients done, both clients exit 0 and check.sh passes on both
# targets; the master's disk is unchanged.  Then the menu as a client of a
# command-line master: waiting, registered, restored (check.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/menu_lib.sh"
e2e_init menu_session tmux
menu_init

copy_fixture gpt small "$WORK/src.img"
orig=$(sha "$WORK/src.img")
size=$(fsize "$WORK/src.img")
P=ms$$   # the bed's prefix: unique while the test runs (a pid)
N=e2e-menu
G=$(sess_group "$N")
bed_up "$P" 2

# wizard NAME: fill the wizard as master with no client count, accept
wizard() {
	menu_need ms "Main menu" 20 "main menu"
	menu_keys ms 4
	menu_need ms "Session name" 10 "the wizard"
	menu_type ms "$N"
	menu_expect ms "Multicast address of this session: ${G//./\\.}" 5 "the wizard shows $G"
	menu_keys ms Down Down Down Down Down Down Enter
	menu_need ms "Master the session $N on ${G//./\\.}" 10 "the question"
	menu_keys ms y
	menu_need ms "Waiting for clients to register \(s starts now\)" 30 "the master waits"
	menu_expect ms "Clients registered: 0" 5 "no client yet"
	menu_expect ms "s: start the session now" 5 "the start key is shown"
}

menu_start ms m -- -disk=src.img
# ---- cancel while waiting: asked first, the outcome is honest
wizard
menu_keys ms Escape
menu_need ms "Cancel this job\?" 10 "cancel asks first"
menu_expect ms "This device's disks are only read" 5 "the question says what a cancel leaves"
menu_keys ms y
menu_expect ms "CANCELLED: session $N: cancelled" 20 "the outcome says cancelled"
menu_expect ms "This device's disks \(src\.img\) were only read" 5 "the outcome states the disks' state"
menu_keys ms Enter

# ---- the session: live client list, start key, two clients restored
wizard
for i in 1 2; do
	blank "$WORK/t$i.img" "$size"
	sess_start c$i $i 150 -session $N -client -disk="$WORK/t$i.img"
done
menu_need ms "Clients registered: 2" 60 "the master lists 2 registered clients"
for i in 1 2; do
	menu_expect ms "$(bed_addr $i | sed 's/\./\\./g') .* registered" 5 "client $i listed live as registered"
done
menu_keys ms s
menu_need ms "Done\. Every client that stayed has the image" 120 "the session ends"
menu_expect ms "Clients: 2 done, 0 failed, 0 dropped" 5 "the outcome counts 2 done"
for i in 1 2; do
	menu_expect ms "$(bed_addr $i | sed 's/\./\\./g') .* done" 5 "client $i done in the outcome"
done
menu_expect ms "starting with 2 clients \(start key\)" 5 "the messages say the start key started it"
menu_keys ms Enter
menu_quit ms
for i in 1 2; do
	sess_wait c$i
	expect_rc 0 "client $i"
	sess_expect_err c$i "session $N: registered with master" "client $i registered"
done

# ---- the menu as a client (node 1) of a command-line master
blank "$WORK/u.img" "$size"
menu_start cl 1 -- -disk=u.img
menu_need cl "Main menu" 20 "client: main menu"
menu_keys cl 4
menu_need cl "Session name" 10 "client: the wizard"
menu_type cl "$N"
menu_keys cl Down Right
menu_expect cl "Role +< Client" 5 "client: role client"
menu_keys cl Down Enter
menu_need cl "Join the session $N on ${G//./\\.} as a client" 10 "client: the question"
menu_expect cl "EVERYTHING on u\.img will be LOST" 5 "client: the question says what is lost"
menu_keys cl y
menu_need cl "Waiting for the master to appear" 30 "client: waiting for a master"
sess_start m m 150 -session $N -master -clients=1 -disk="$WORK/src.img"
menu_need cl "Done\. This device's disks are restored" 120 "client: restored"
menu_expect cl "session $N: registered with master 198\.18\.0\.1" 5 "client: it showed it registered"
menu_keys cl Enter
menu_quit cl
sess_wait m
expect_rc 0 "the command-line master"
sess_expect_err m "session $N: 1 done, 0 failed, 0 dropped" "the master counts the menu client done"

[ "$(sha "$WORK/src.img")" = "$orig" ] && pass "the master's disk is unchanged" ||
	fail "the master's disk changed"
bed_down
# check.sh on one target; the others must hold the very same bytes (the
# image-safe data area, with its time of restore, aside)
run_check "$WORK/src.img" "$WORK/t1.img"
t1=$(outside_sha "$WORK/t1.img" 1044480 4096)
for t in t2 u; do
	[ "$(outside_sha "$WORK/$t.img" 1044480 4096)" = "$t1" ] &&
		pass "$t.img holds the same bytes as t1.img" || fail "$t.img differs from t1.img"
done
e2e_finish
