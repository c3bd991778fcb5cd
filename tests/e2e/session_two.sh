#!/bin/bash
# Two img -session sessions with different names at once on one network
# test bed: master A sends the GPT fixture to receivers 1 and 2, master B
# the MBR fixture to receivers 3 and 4, their registrations interleaved.
# First the masters are two devices (node m and node 5, 198.18.0.15),
# paced with -throttle=1 so that the two transfers surely overlap; then
# both masters run on node m at full speed, as a server mastering two
# sessions does.  Everyone exits 0, each master reports its own two
# receivers done and no other, and each receiver's disk passes check.sh
# against its own session's source.  Times are notes only.
. "$(dirname "$0")/lib.sh"
e2e_init session_two

copy_fixture gpt small "$WORK/srcA.img"
copy_fixture mbr small "$WORK/srcB.img"
P=s2$$   # the bed's prefix: unique while the test runs (a pid)
A=e2e-two-a
B=e2e-two-b
T=120
ga=$(sess_group $A)
gb=$(sess_group $B)
note "session $A is group $ga, session $B is group $gb"
[ "$ga" != "$gb" ] || fatal "the two names share a group; pick others"

# round LABEL NODE-OF-MASTER-B [master options...]
round() {
	local l=$1 nb=$2 i t0
	shift 2
	bed_up "$P" 5
	for i in 1 2; do blank "$WORK/$l-a$i.img" "$(fsize "$WORK/srcA.img")"; done
	for i in 3 4; do blank "$WORK/$l-b$i.img" "$(fsize "$WORK/srcB.img")"; done
	t0=$(now)
	sess_start $l-mA m $T -session $A -master -clients=2 "$@" -disk="$WORK/srcA.img"
	sess_start $l-mB "$nb" $T -session $B -master -clients=2 "$@" -disk="$WORK/srcB.img"
	sess_start $l-r3 3 $T -session $B -client -disk="$WORK/$l-b3.img"
	sess_start $l-r1 1 $T -session $A -client -disk="$WORK/$l-a1.img"
	sess_start $l-r4 4 $T -session $B -client -disk="$WORK/$l-b4.img"
	sess_start $l-r2 2 $T -session $A -client -disk="$WORK/$l-a2.img"
	for i in mA mB; do
		sess_wait $l-$i
		expect_rc 0 "$l: master $i"
	done
	for i in 1 2 3 4; do
		sess_wait $l-r$i
		expect_rc 0 "$l: receiver $i"
	done
	note "$l: both sessions took $(since "$t0") s"
	bed_down
	for i in 1 2; do sess_master_report $l-mA $A $i done; done
	for i in 3 4; do sess_master_report $l-mB $B $i done; done
	sess_expect_err $l-mA "session $A: 2 done, 0 failed, 0 dropped" "$l: master A total"
	sess_expect_err $l-mB "session $B: 2 done, 0 failed, 0 dropped" "$l: master B total"
	grep -Eq "198\.18\.0\.1[34]" "$WORK/$l-mA.err" && fail "$l: master A heard of session B's receivers" ||
		pass "$l: master A names none of session B's receivers"
	grep -Eq "198\.18\.0\.1[12]" "$WORK/$l-mB.err" && fail "$l: master B heard of session A's receivers" ||
		pass "$l: master B names none of session A's receivers"
	for i in 1 2; do run_check "$WORK/srcA.img" "$WORK/$l-a$i.img"; done
	for i in 3 4; do run_check "$WORK/srcB.img" "$WORK/$l-b$i.img"; done
	rm -f "$WORK/$l"-[ab][1-4].img
}

round devices 5 -throttle=1
round onehost m
e2e_finish
