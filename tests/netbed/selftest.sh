#!/bin/bash
# The network test bed checks itself: a master and three receivers in
# namespaces; every receiver answers ping; paced multicast reaches a
# clean receiver whole, loses about the configured 5 % on the lossy one
# (nftables numgen), and a burst is cut down by the 8 Mbit/s tbf on the
# slow one; afterwards no namespace of the bed is left.  Exit 0 pass,
# 1 fail, 77 skip (not root, no namespaces or nft).
set -u
here=$(cd "$(dirname "$0")" && pwd)
BED="$here/netbed.sh"
MC="$here/mcast.py"
P=nb$$   # unique while this test runs (pids are at most 5 digits here)
fails=0 checks=0
ok() { echo "ok - $*"; checks=$((checks + 1)); }
bad() { echo "FAIL - $*"; checks=$((checks + 1)); fails=$((fails + 1)); }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
for t in ip tc nft ethtool ping python3; do
	command -v $t >/dev/null || { echo "SKIP: missing tool $t"; exit 77; }
done
trap '"$BED" down $P' EXIT
trap 'exit 1' INT TERM
if ! ip netns add "$P-probe" 2>/dev/null; then
	echo "SKIP: cannot make network namespaces here"; exit 77
fi
ip netns del "$P-probe"

"$BED" up $P 3 --loss 2:50000 --rate 3:8mbit || { echo "FAIL: netbed up"; exit 1; }
for i in 1 2 3; do
	a=$("$BED" addr $i)
	if "$BED" exec $P m ping -c1 -W3 "$a" >/dev/null 2>&1; then ok "master reaches receiver $i at $a"
	else bad "master cannot ping receiver $i at $a"; fi
done

# paced: 4000 datagrams at 500/s (5.6 Mbit/s, under every limit)
for i in 1 2 3; do
	timeout 30 "$BED" exec $P $i python3 "$MC" recv 231.7.7.7 9100 12 >"/tmp/$P.r$i" &
done
sleep 1
timeout 30 "$BED" exec $P m python3 "$MC" send 231.7.7.7 9100 4000 1400 500 >/dev/null
wait
r1=$(cut -d' ' -f1 "/tmp/$P.r1") r2=$(cut -d' ' -f1 "/tmp/$P.r2") r3=$(cut -d' ' -f1 "/tmp/$P.r3")
echo "# paced: received $r1, $r2, $r3 of 4000"
[ "${r1:-0}" -ge 3980 ] && ok "clean receiver got $r1 of 4000" || bad "clean receiver got ${r1:-0} of 4000"
[ "${r2:-0}" -ge 3640 ] && [ "${r2:-0}" -le 3920 ] &&
	ok "5 % loss receiver got $r2 of 4000 (2 % to 9 % lost)" ||
	bad "5 % loss receiver got ${r2:-0} of 4000, expected 3640 to 3920"
[ "${r3:-0}" -ge 3980 ] && ok "8 Mbit/s receiver got $r3 of 4000 at 5.6 Mbit/s" ||
	bad "8 Mbit/s receiver got ${r3:-0} of 4000 at 5.6 Mbit/s"

# a burst: 2000 datagrams as fast as the master sends them
timeout 30 "$BED" exec $P 3 python3 "$MC" recv 231.7.7.8 9101 6 >"/tmp/$P.b3" &
sleep 1
timeout 30 "$BED" exec $P m python3 "$MC" send 231.7.7.8 9101 2000 1400 1000000 >/dev/null
wait
b3=$(cut -d' ' -f1 "/tmp/$P.b3")
echo "# burst: the 8 Mbit/s receiver got $b3 of 2000"
[ "${b3:-0}" -gt 0 ] && [ "${b3:-0}" -lt 1000 ] && ok "tbf cut the burst to $b3 of 2000" ||
	bad "tbf let ${b3:-0} of 2000 through"
rm -f "/tmp/$P".*

"$BED" down $P
left=$(ip netns list | grep -c "^$P-")
[ "$left" = 0 ] && ok "down removed every namespace" || bad "$left namespaces left"
trap - EXIT
[ $checks -gt 0 ] && [ $fails = 0 ] && { echo "PASS: netbed selftest ($checks checks)"; exit 0; }
echo "FAIL: netbed selftest: $fails of $checks checks failed"
exit 1
