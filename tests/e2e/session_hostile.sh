#!/bin/bash
# A multicast session under attack from a node of the same network: once
# the session runs, tests/netbed/mcjunk.py floods the group and the
# master's control port with malformed and forged packets (random bytes,
# bad magic, version and flags, unknown types, every message cut short,
# forged DATA and a forged "done" announce from the wrong address, STATUS,
# RESULT and LEAVE for receiver ids that are not its own, JOINs).  The
# master and both receivers must ignore it all: both receivers exit 0 with
# disks that check clean, the master reports them done and nothing else.
# Then the master sends a cut image: both receivers fail naming it, the
# master reports them failed and exits 1.
. "$(dirname "$0")/lib.sh"
e2e_init session_hostile
P=sh$$   # the bed's prefix: unique while the test runs (a pid)
N=e2e-hostile
T=150
copy_fixture gpt small "$WORK/src.img"
size=$(fsize "$WORK/src.img")
bed_up "$P" 3
for i in 1 2; do blank "$WORK/t$i.img" "$size"; done
for i in 1 2; do
	sess_start r$i $i $T -session $N -client -disk="$WORK/t$i.img"
done
# throttled, so that the flood overlaps the whole transfer
sess_start m m $T -session $N -master -clients=2 -throttle=1 -disk="$WORK/src.img"
group=$("$IMG" -session $N -address)
timeout 60 "$NETBED" exec "$P" 3 python3 "$E2E_DIR/../netbed/mcjunk.py" "$group" 8 \
	>"$WORK/junk.out" 2>&1
jrc=$?
sed 's/^/#   /' "$WORK/junk.out"
[ $jrc = 0 ] && pass "the hostile node saw the running session and flooded it" ||
	fail "the hostile node did not see the session (exit $jrc)"
sess_wait m
expect_rc 0 "master under attack"
for i in 1 2; do
	sess_wait r$i
	expect_rc 0 "receiver $i under attack"
done
bed_down
sess_expect_err m "session $N: 2 done, 0 failed, 0 dropped" "the master counts the two receivers only"
for i in 1 2; do run_check "$WORK/src.img" "$WORK/t$i.img"; done

# ---- a master sending a cut image: every receiver fails, and says so; the
# master reports both failed and exits 1 (no "success" that is not one)
run_img -makel "$WORK/whole.img" -disk="$WORK/src.img"
expect_rc 0 "img -makel the image to cut"
head -c $(($(fsize "$WORK/whole.img") / 2)) "$WORK/whole.img" >"$WORK/cut.img"
bed_up "$P" 2
for i in 1 2; do blank "$WORK/u$i.img" "$size"; done
for i in 1 2; do
	sess_start u$i $i $T -session $N -client -disk="$WORK/u$i.img"
done
sess_start cutm m $T -session $N -master -clients=2 -image="$WORK/cut.img"
sess_wait cutm
expect_rc 1 "master of a cut image"
for i in 1 2; do
	sess_wait u$i
	expect_rc 1 "receiver $i of a cut image"
	sess_expect_err u$i "truncat|ends before" "receiver $i names the cut image"
	sess_master_report cutm $N $i failed
done
sess_expect_err cutm "session $N: 0 done, 2 failed, 0 dropped" "the master counts both failed"
bed_down
e2e_finish
