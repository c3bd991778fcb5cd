#!/bin/bash
# Two img -session sessions with different names at once on one network
# test bed: master A (node m) sends the GPT fixture to receivers 1 and 2,
# master B (node 5, 198.18.0.15) the MBR fixture to receivers 3 and 4.
# Everyone exits 0, each master reports its own two receivers done and no
# other, and each receiver's disk passes check.sh against its own
# session's source.  Times are notes only.
. "$(dirname "$0")/lib.sh"
e2e_init session_two

copy_fixture gpt small "$WORK/srcA.img"
copy_fixture mbr small "$WORK/srcB.img"
P=s2$$
P=${P:0:7}
A=e2e-two-a
B=e2e-two-b
T=120
ga=$(sess_group $A)
gb=$(sess_group $B)
note "session $A is group $ga, session $B is group $gb"
[ "$ga" != "$gb" ] || fatal "the two names share a group; pick others"

bed_up "$P" 5
for i in 1 2; do blank "$WORK/a$i.img" "$(fsize "$WORK/srcA.img")"; done
for i in 3 4; do blank "$WORK/b$i.img" "$(fsize "$WORK/srcB.img")"; done
t0=$(now)
sess_start mA m $T -session $A -master -clients=2 -disk="$WORK/srcA.img"
sess_start mB 5 $T -session $B -master -clients=2 -disk="$WORK/srcB.img"
# interleave the registrations of the two sessions
sess_start r3 3 $T -session $B -client -disk="$WORK/b3.img"
sess_start r1 1 $T -session $A -client -disk="$WORK/a1.img"
sess_start r4 4 $T -session $B -client -disk="$WORK/b4.img"
sess_start r2 2 $T -session $A -client -disk="$WORK/a2.img"
for t in mA mB; do
	sess_wait $t
	expect_rc 0 "master $t"
done
for i in 1 2 3 4; do
	sess_wait r$i
	expect_rc 0 "receiver $i"
done
note "both sessions took $(since "$t0") s"
bed_down
for i in 1 2; do sess_master_report mA $A $i done; done
for i in 3 4; do sess_master_report mB $B $i done; done
sess_expect_err mA "session $A: 2 done, 0 failed, 0 dropped" "master A total"
sess_expect_err mB "session $B: 2 done, 0 failed, 0 dropped" "master B total"
grep -Eq "198\.18\.0\.1[34]" "$WORK/mA.err" && fail "master A heard of session B's receivers" ||
	pass "master A names none of session B's receivers"
grep -Eq "198\.18\.0\.1[12]" "$WORK/mB.err" && fail "master B heard of session A's receivers" ||
	pass "master B names none of session A's receivers"
for i in 1 2; do run_check "$WORK/srcA.img" "$WORK/a$i.img"; done
for i in 3 4; do run_check "$WORK/srcB.img" "$WORK/b$i.img"; done
e2e_finish
