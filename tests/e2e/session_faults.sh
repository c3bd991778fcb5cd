#!/bin/bash
# img -session when receivers fail, on the network test bed (master node m,
# receivers 1..4, -drop=2):
# - receiver 3 killed (kill -9) mid-session: the master drops it and
#   reports it "dropped" but exits 0; the other three exit 0 and their
#   disks pass check.sh;
# - receiver 3 behind a 4 Mbit/s link, the others unlimited: the fast ones
#   exit 0 with good disks; the slow one either exits 0 with a good disk or
#   exits non-zero saying "dropped" (never 0 with a bad disk);
# - every RESULTACK to receiver 1 lost (nftables in its namespace drops
#   that message type): its RESULT still reaches the master, which counts
#   it done; it ends on the master's closing announce and exits 0 with a
#   good disk.
# Times (how long the others took after the fault) are notes only.
. "$(dirname "$0")/lib.sh"
e2e_init session_faults

copy_fixture gpt small "$WORK/src.img"
size=$(fsize "$WORK/src.img")
P=sf$$   # the bed's prefix: unique while the test runs (a pid)
N=e2e-faults
T=120   # bound of every img run, seconds
# the master's delay between packets in the kill scenario, so that the
# session lasts long enough to kill a receiver in the middle
THROTTLE=${THROTTLE:-1}

# ---- a receiver killed mid-session
bed_up "$P" 4
for i in 1 2 3 4; do blank "$WORK/k$i.img" "$size"; done
t0=$(now)
sess_start kill-m m $T -session $N -master -clients=4 -drop=2 -throttle=$THROTTLE -disk="$WORK/src.img"
for i in 1 2 3 4; do
	sess_start kill-r$i $i $T -session $N -client -disk="$WORK/k$i.img"
done
# kill receiver 3 once it has written 4 MiB of its disk
killed=0
while sess_running kill-r3 && [ "$(since "$t0" | cut -d. -f1)" -lt $T ]; do
	if [ "$(sess_written "$WORK/k3.img")" -ge $((4 << 20)) ]; then
		sess_kill9 3
		tk=$(now)
		killed=1
		note "killed receiver 3 after $(since "$t0") s, $(sess_written "$WORK/k3.img") bytes written"
		break
	fi
	sleep 0.05
done
[ $killed = 1 ] || fatal "receiver 3 ended (or wrote nothing) before it could be killed mid-session"
sess_wait kill-m
expect_rc 0 "master with one receiver killed"
note "the master finished $(sess_secs kill-m "$tk") s after the kill"
sess_wait kill-r3
[ "$RC" != 0 ] && pass "the killed receiver did not exit 0 (exit $RC)" || fail "the killed receiver exited 0"
for i in 1 2 4; do
	sess_wait kill-r$i
	expect_rc 0 "receiver $i beside the killed one"
	note "receiver $i finished $(sess_secs kill-r$i "$tk") s after the kill"
done
bed_down
sess_master_report kill-m $N 3 dropped
for i in 1 2 4; do sess_master_report kill-m $N $i done; done
sess_expect_err kill-m "session $N: 3 done, 0 failed, 1 dropped" "master total with one killed"
for i in 1 2 4; do run_check "$WORK/src.img" "$WORK/k$i.img"; done
rm -f "$WORK"/k[1-4].img

# ---- a receiver far slower than the others
bed_up "$P" 4 --rate 3:4mbit
for i in 1 2 3 4; do blank "$WORK/s$i.img" "$size"; done
t0=$(now)
for i in 1 2 3 4; do
	sess_start slow-r$i $i $T -session $N -client -disk="$WORK/s$i.img"
done
sleep 1
sess_start slow-m m $T -session $N -master -clients=4 -drop=2 -disk="$WORK/src.img"
sess_wait slow-m
expect_rc 0 "master with a slow receiver"
for i in 1 2 4; do
	sess_wait slow-r$i
	expect_rc 0 "fast receiver $i"
done
sess_wait slow-r3
rc3=$RC
bed_down
for i in 1 2 4; do sess_master_report slow-m $N $i done; done
if [ "$rc3" = 0 ]; then
	note "the 4 Mbit/s receiver kept up and exited 0: its disk must be good"
	sess_master_report slow-m $N 3 done
	run_check "$WORK/src.img" "$WORK/s3.img"
elif [ "$rc3" = 124 ] || [ "$rc3" -gt 128 ]; then
	fail "the 4 Mbit/s receiver did not end by itself (exit $rc3)"
else
	pass "the 4 Mbit/s receiver gave up (exit $rc3)"
	sess_expect_err slow-r3 "dropped" "the 4 Mbit/s receiver"
	sess_master_report slow-m $N 3 dropped
fi
for i in 1 2 4; do run_check "$WORK/src.img" "$WORK/s$i.img"; done
rm -f "$WORK"/s[1-4].img

# ---- every RESULTACK to receiver 1 lost
bed_up "$P" 2
# the message type is byte 5 of the UDP payload (img-protocol(7)):
# transport header 8 bytes + 5 = bit 104; 9 is RESULTACK
"$NETBED" exec "$P" 1 nft -f - <<'NFT' || fatal "nftables rule dropping RESULTACK"
table netdev noack {
	chain ingress {
		type filter hook ingress device eth0 priority -500; policy accept;
		meta l4proto udp @th,104,8 9 counter drop
	}
}
NFT
for i in 1 2; do blank "$WORK/a$i.img" "$size"; done
for i in 1 2; do
	sess_start ack-r$i $i $T -session $N -client -disk="$WORK/a$i.img"
done
sleep 1
sess_start ack-m m $T -session $N -master -clients=2 -disk="$WORK/src.img"
sess_wait ack-m
expect_rc 0 "master whose RESULTACKs to receiver 1 are lost"
for i in 1 2; do
	sess_wait ack-r$i
	expect_rc 0 "receiver $i$([ $i = 1 ] && echo ', whose RESULTACKs are lost')"
done
note "receiver 1 ended $(sess_secs ack-r1 "$(cat "$WORK/ack-m.end")") s after the master"
dropped=$("$NETBED" exec "$P" 1 nft list table netdev noack | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
[ "${dropped:-0}" -gt 0 ] && pass "nftables dropped $dropped RESULTACK(s) to receiver 1" ||
	fail "no RESULTACK was dropped: the scenario did not happen"
bed_down
for i in 1 2; do sess_master_report ack-m $N $i done; done
for i in 1 2; do run_check "$WORK/src.img" "$WORK/a$i.img"; done
e2e_finish
