#!/bin/bash
# How an img -session starts, and its command line, on the network test bed
# (master node m, receivers 1 and 2; the mbr fixture):
# - by count: -clients=2 starts when the second client registers;
# - by timeout: -timeout=0.05 (3 s) after the last registration, no count;
# - by the start key: `(sleep 3; echo s) | img ... -clients=9`;
# - a client registering after the start hears "already started" and
#   "queued", and restores from the next master run of that name;
# - a client with -wait=3 and no master fails with a clear message;
# - -address prints the 231.x.y.z group of img-protocol(7), computed here
#   without img, whatever the name's case; invalid names are refused;
# - the older form `img session NAME master|client clients=N t=MIN` parses.
# Every restored disk passes check.sh.  Times are notes only.
. "$(dirname "$0")/lib.sh"
e2e_init session_start

copy_fixture mbr small "$WORK/src.img"
size=$(fsize "$WORK/src.img")
P=ss$$   # the bed's prefix: unique while the test runs (a pid)
T=90    # bound of every img run, seconds
THROTTLE=${THROTTLE:-1}   # keeps the late registrant's first session running

# ---- group addresses and names (no network needed)
for n in lab1 LAB1 Lab1 Room-2.b_x; do
	run_img -session "$n" -address
	expect_rc 0 "-address for '$n'"
	want=$(sess_group "$n")
	got=$(tr -d ' \n' <"$WORK/out")
	[ "$got" = "$want" ] && pass "'$n' maps to $want" || fail "'$n' maps to '$got', expected $want"
done
[ "$(sess_group lab1)" = 231.104.208.160 ] && pass "lab1 is 231.104.208.160 as img-protocol(7) says" ||
	fail "this test's own mapping disagrees with img-protocol(7)"
run_img -s lab1 -address
[ "$(tr -d ' \n' <"$WORK/out")" = 231.104.208.160 ] && pass "-s is short for -session" ||
	fail "-s lab1 -address printed '$(head -c 100 "$WORK/out")' (exit $RC)"
long64=$(printf 'n%.0s' $(seq 64))
run_img -session "$long64" -address
expect_rc 0 "a 64-character name"
for n in "" "a b" "lab/1" "lab:1" "caf$(printf '\303\251')" "${long64}x"; do
	run_img -session "$n" -address
	if [ "$RC" = 1 ] || [ "$RC" = 2 ]; then pass "invalid name '$n' refused (exit $RC)"
	else fail "invalid name '$n': exit $RC, expected 1 or 2 (stdout: $(head -c 80 "$WORK/out"))"; fi
	expect_err "name" "invalid name '$n'"
done

# ---- start by count
bed_up "$P" 2
N=e2e-count
for i in 1 2; do blank "$WORK/c$i.img" "$size"; done
sess_start count-m m $T -session $N -master -clients=2 -disk="$WORK/src.img"
sleep 1
sess_start count-r1 1 $T -session $N -client -disk="$WORK/c1.img"
sess_wait_for count-m "registered \(1 of 2\)" 20 || fail "the first registration was not reported"
sleep 2
sess_grep count-m "starting" && fail "started with 1 of 2 clients registered" ||
	pass "not started with 1 of 2 clients"
sess_start count-r2 2 $T -session $N -client -disk="$WORK/c2.img"
sess_wait count-m
expect_rc 0 "master -clients=2"
sess_expect_err count-m "session $N: client 198\.18\.0\.1[12] .*registered \(2 of 2\)" "second registration"
sess_expect_err count-m "session $N: starting.*\(count reached\)" "start by count"
sess_expect_err count-m "session $N: starting with 2 clients" "start by count: start line names the count"
for i in 1 2; do
	sess_wait count-r$i
	expect_rc 0 "count: receiver $i"
	run_check "$WORK/src.img" "$WORK/c$i.img"
done
rm -f "$WORK"/c[12].img

# ---- start by timeout after the last registration
N=e2e-timeout
blank "$WORK/t1.img" "$size"
sess_start timeout-r1 1 $T -session $N -client -disk="$WORK/t1.img"
sleep 1
sess_start timeout-m m $T -session $N -master -timeout=0.05 -disk="$WORK/src.img"
if sess_wait_for timeout-m "registered" 20; then
	tr=$(now)
	sess_wait_for timeout-m "starting" 30 &&
		note "started $(since "$tr") s after the registration (-timeout=0.05 is 3 s)"
fi
sess_wait timeout-m
expect_rc 0 "master -timeout=0.05"
sess_expect_err timeout-m "session $N: starting.*\(timeout\)" "start by timeout"
sess_expect_err timeout-m "session $N: starting with 1 clients?" "start by timeout: start line names the count"
sess_wait timeout-r1
expect_rc 0 "timeout: receiver"
run_check "$WORK/src.img" "$WORK/t1.img"
rm -f "$WORK/t1.img"

# ---- start by the start key, with a count that is never reached
N=e2e-key
blank "$WORK/k1.img" "$size"
sess_start key-r1 1 $T -session $N -client -disk="$WORK/k1.img"
sleep 1
SESS_KEYS=3:s sess_start key-m m $T -session $N -master -clients=9 -disk="$WORK/src.img"
sess_wait key-m
expect_rc 0 "master started by the key"
sess_expect_err key-m "session $N: starting.*\(start key\)" "start by key"
sess_expect_err key-m "session $N: starting with 1 clients?" "start by key: start line names the count"
sess_wait key-r1
expect_rc 0 "key: receiver"
run_check "$WORK/src.img" "$WORK/k1.img"
rm -f "$WORK/k1.img"

# ---- a late registrant is queued and served by the next session
N=e2e-late
blank "$WORK/a1.img" "$size"
blank "$WORK/b2.img" "$size"
sess_start late-m1 m $T -session $N -master -clients=1 -throttle=$THROTTLE -disk="$WORK/src.img"
sess_start late-a 1 $T -session $N -client -disk="$WORK/a1.img"
sess_wait_for late-m1 "starting" 30 || fail "the first session did not start"
sess_start late-b 2 $T -session $N -client -disk="$WORK/b2.img"
if sess_wait_for late-b "queued" 30; then
	sess_running late-m1 && pass "the late client was told while the first session ran" ||
		note "the first session ended before the late client was told"
else
	fail "the late client was not told it is queued"
fi
sess_expect_err late-b "already started" "late client"
sess_expect_err late-b "queued" "late client"
sess_wait late-m1
expect_rc 0 "first master"
sess_expect_err late-m1 "session $N: 1 done, 0 failed, 0 dropped" "the first session served only the first client"
sess_wait late-a
expect_rc 0 "first client"
sess_running late-b && pass "the late client still waits after the first session" ||
	fail "the late client did not wait for the next session"
[ "$(sess_written "$WORK/b2.img")" = 0 ] && pass "nothing was written to the late client's disk yet" ||
	fail "the late client's disk was written during the session it missed"
sess_start late-m2 m $T -session $N -master -clients=1 -disk="$WORK/src.img"
sess_wait late-m2
expect_rc 0 "second master"
sess_wait late-b
expect_rc 0 "the late client, served by the second session"
run_check "$WORK/src.img" "$WORK/a1.img"
run_check "$WORK/src.img" "$WORK/b2.img"
rm -f "$WORK/a1.img" "$WORK/b2.img"

# ---- a client gives up when no master appears
N=e2e-nomaster
blank "$WORK/w1.img" "$size"
sess_start wait-r1 1 30 -session $N -client -wait=3 -disk="$WORK/w1.img"
sess_wait wait-r1
[ "$RC" != 0 ] && [ "$RC" != 124 ] && [ "$RC" -lt 128 ] && pass "-wait=3 without a master: exit $RC" ||
	fail "-wait=3 without a master: exit $RC, expected a failure of its own"
sess_expect_err wait-r1 "master" "-wait=3 without a master"
[ "$(sess_written "$WORK/w1.img")" = 0 ] && pass "nothing written without a master" ||
	fail "the disk was written without a master"

# ---- the older form
N=e2e-old
sess_start old-m m 30 session $N master clients=2 t=0.05 -disk="$WORK/src.img"
sess_wait old-m
expect_rc 1 "older form master with clients=2 t=0.05 and no client"
sess_expect_err old-m "no client registered" "older form master"
# a client waits for its master (there is none): still waiting after 5 s
note "[old-c on node 1] img session $N client -disk=$WORK/w1.img (bounded to 5 s)"
timeout 5 "$NETBED" exec "$P" 1 "$IMG" session $N client -disk="$WORK/w1.img" \
	</dev/null >"$WORK/old-c.out" 2>"$WORK/old-c.err"
RC=$?
sed 's/^/#   old-c: /' "$WORK/old-c.err" | head -10
[ "$RC" = 124 ] && pass "older form client parses and waits for its master" ||
	fail "older form client: exit $RC, expected to be still waiting (124) after 5 s"
e2e_finish
