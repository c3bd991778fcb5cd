#!/bin/bash
# imgserv masters multicast sessions from its store, on the network test
# bed (tests/netbed): the daemon runs in the master's namespace, bound to
# 198.18.0.1, with an image img -makel made of a fixture disk.
# - imgserv -session start NAME PATH -clients=2: two receivers running
#   img -session NAME -client exit 0 and their disks pass check.sh;
#   -session list and -status show the session running, then done with
#   its outcome; the request log has it; delete forgets it;
# - refused with a clear reason: a second start of a running name, an
#   unknown path, a start without the site key;
# - catch-up: a receiver behind a 2 Mbit/s link among two fast ones is
#   dropped from the session and finishes by unicast from the server (GET
#   with an offset), exit 0, disk good; the session lists it dropped;
# - automatic mode: pending "session" work makes img -auto join the
#   session; both restore, report success, and the work is cleared.
# Times are notes, never assertions.
. "$(dirname "$0")/lib.sh"
e2e_init session_server

copy_fixture gpt small "$WORK/src.img"
size=$(fsize "$WORK/src.img")
mkkey "$WORK/key"
P=sv$$   # the bed's prefix: unique while the test runs (a pid)
N=e2e-server
T=100    # bound of a receiver's run in the first session, seconds
TSLOW=200  # bound in the catch-up session (20 MiB at 2 Mbit/s is ~90 s)
SRV=198.18.0.1

# srvctl ARGS...: imgserv (a command) in the master's namespace, talking to
# the daemon there; output in $WORK/ctl.out and ctl.err, status in RC
srvctl() {
	local t0=$SECONDS
	timeout 30 "$NETBED" exec "$BED_PREFIX" m "$IMGSERV" "$@" -i "$SRV" -conf=/dev/null \
		>"$WORK/ctl.out" 2>"$WORK/ctl.err"
	RC=$?
	note "imgserv $* ($((SECONDS - t0)) s)"
	sed 's/^/#   out: /' "$WORK/ctl.out" | head -20
	sed 's/^/#   err: /' "$WORK/ctl.err" | head -5
	return 0
}
# same_disk A B WHAT: B holds the same bytes as A (which passed check.sh:
# one check.sh per session keeps the test inside its time bound) outside
# the image-safe data, which records when each disk was restored
same_disk() {
	if [ "$(outside_sha "$1" 1044480 4096)" = "$(outside_sha "$2" 1044480 4096)" ]; then
		pass "$3: $(basename "$2") has the bytes of $(basename "$1")"
	else
		fail "$3: $(basename "$2") differs from $(basename "$1")"
	fi
}
# ctl_expect WHERE REGEX WHAT: ctl.out or ctl.err matches REGEX (ERE, any case)
ctl_expect() {
	if grep -Eiq -- "$2" "$WORK/ctl.$1"; then pass "$3: matches /$2/"
	else fail "$3: $1 does not match /$2/: $(head -c 300 "$WORK/ctl.$1" | tr '\n' ' ')"; fi
}
# session_wait NAME REGEX SECS: -session list shows NAME's line matching REGEX
session_wait() {
	local end=$((SECONDS + $3)) t0=$SECONDS
	while [ $SECONDS -lt $end ]; do
		timeout 30 "$NETBED" exec "$BED_PREFIX" m "$IMGSERV" -session list -i "$SRV" \
			-conf=/dev/null >"$WORK/ctl.out" 2>"$WORK/ctl.err"
		grep -Eiq -- "^$1  $2" "$WORK/ctl.out" && break
		sleep 1
	done
	note "imgserv -session list: waited $((SECONDS - t0)) s for $1 to be $2"
	sed 's/^/#   list: /' "$WORK/ctl.out" | head -20
	grep -Eiq -- "^$1  $2" "$WORK/ctl.out"
}
# server_start: imgserv in the master's namespace on 198.18.0.1:998
server_start() {
	local i
	mkdir -p "$WORK/srv/store/lab"
	: >"$WORK/srv/imgserv.conf"
	"$NETBED" exec "$BED_PREFIX" m "$IMGSERV" -foreground -i:$SRV -store="$WORK/srv/store" \
		-state="$WORK/srv/state" -conf="$WORK/srv/imgserv.conf" -pidfile= \
		-key="$WORK/key" -s:bed-server 2>>"$WORK/srv/log" &
	E2E_SERVERS+=("$!")
	for i in $(seq 100); do
		"$NETBED" exec "$BED_PREFIX" m "$IMGSERV" -status -i $SRV -conf=/dev/null \
			>/dev/null 2>&1 && return 0
		sleep 0.1
	done
	sed 's/^/#   server: /' "$WORK/srv/log"
	fatal "imgserv did not start in the bed's master namespace"
}

bed_up "$P" 3 --rate 3:4mbit
server_start
run_img -makel "$WORK/srv/store/lab/a.img" -disk="$WORK/src.img"
expect_rc 0 "img -makel the session's image into the store"
note "image: $(fsize "$WORK/srv/store/lab/a.img") bytes ($SECONDS s into the test)"

# ---- a session of two receivers
srvctl -session start $N lab/a.img -clients=2 -timeout=2 -key="$WORK/key"
expect_rc 0 "imgserv -session start"
ctl_expect out "session $N started: image lab/a.img, group $(sess_group $N)" "start names the group"
srvctl -session start $N lab/a.img -clients=2 -key="$WORK/key"
expect_rc 1 "a second start of the running session"
ctl_expect err "session '$N' is already running" "the second start is refused"
srvctl -session start other lab/none.img -key="$WORK/key"
expect_rc 1 "a session from an unknown image"
ctl_expect err "no image 'lab/none.img'" "the unknown image is refused"
srvctl -session start other lab/a.img
expect_rc 2 "a start without the site key"
ctl_expect err "needs the site key" "start without the key"
srvctl -status
ctl_expect out "^Multicast Sessions: 1$" "-status counts the running session"
ctl_expect out "^Session $N: running, image lab/a.img, group $(sess_group $N)" "-status has a line for it"
srvctl -session list
ctl_expect out "^$N  running  lab/a.img  $(sess_group $N)  2  " "-session list shows it running"

for i in 1 2; do blank "$WORK/t$i.img" "$size"; done
t0=$(now)
for i in 1 2; do
	sess_start r$i $i $T -session $N -client -disk="$WORK/t$i.img"
done
for i in 1 2; do
	sess_wait r$i
	expect_rc 0 "receiver $i of the server's session"
done
note "the session took $(since "$t0") s"
session_wait $N "done: 2 done, 0 failed, 0 dropped" 30 &&
	pass "-session list: $N done, 2 done, 0 failed, 0 dropped" ||
	fail "-session list does not show $N done: $(tr '\n' ' ' <"$WORK/ctl.out")"
run_check "$WORK/src.img" "$WORK/t1.img"
same_disk "$WORK/t1.img" "$WORK/t2.img" "receiver 2"
rm -f "$WORK"/t[12].img
srvctl -status
ctl_expect out "^Multicast Sessions: 0$" "-status: no session running"
ctl_expect out "^Session $N: done: 2 done, 0 failed, 0 dropped" "-status: the outcome"
ctl_expect out "^Images Sent: 2$" "-status: the two receivers count as images sent"

srvctl -session delete $N -key="$WORK/key"
expect_rc 0 "imgserv -session delete"
srvctl -session list
ctl_expect out "^no multicast sessions" "the deleted session is gone"
srvctl -session delete $N -key="$WORK/key"
expect_rc 1 "deleting it again"
ctl_expect err "no session '$N'" "a second delete says there is none"

# a running session deleted: it stops, and its name is free again
srvctl -session start $N lab/a.img -clients=5 -key="$WORK/key"
expect_rc 0 "start a session nobody joins"
srvctl -session delete $N -key="$WORK/key"
expect_rc 0 "delete the running session"
ctl_expect out "session $N deleted" "delete says so"
srvctl -session list
ctl_expect out "^no multicast sessions" "the stopped session is gone"

# ---- catch-up: receiver 3 behind 4 Mbit/s is dropped, finishes by unicast
note "$SECONDS s into the test"
N2=e2e-catchup
# paced (1 packet/ms, ~1.4 MB/s) so that the slow one falls behind while the
# others still receive: it is dropped then, not served by repairs afterwards
srvctl -session start $N2 lab/a.img -clients=3 -timeout=2 -throttle=1 -key="$WORK/key"
expect_rc 0 "start the catch-up session"
for i in 1 2 3; do blank "$WORK/c$i.img" "$size"; done
t0=$(now)
for i in 1 2 3; do
	sess_start c$i $i $TSLOW -session $N2 -client -disk="$WORK/c$i.img"
done
for i in 1 2; do
	sess_wait c$i
	expect_rc 0 "fast receiver $i"
	note "fast receiver $i took $(since "$t0") s"
done
sess_wait c3
expect_rc 0 "the 4 Mbit/s receiver (dropped, then unicast)"
sess_expect_err c3 "dropped|ended the session before this receiver had the whole image" \
	"the slow receiver was left behind"
sess_expect_err c3 "finishing by unicast from $SRV:998 \(lab/a.img from byte [0-9]+\)" \
	"the slow receiver caught up from the server"
session_wait $N2 "done: 2 done, 0 failed, 1 dropped" 30 &&
	pass "-session list: $N2 done, 2 done, 0 failed, 1 dropped" ||
	fail "-session list does not show $N2 with one dropped: $(tr '\n' ' ' <"$WORK/ctl.out")"
run_check "$WORK/src.img" "$WORK/c3.img"
same_disk "$WORK/c3.img" "$WORK/c1.img" "fast receiver 1"
same_disk "$WORK/c3.img" "$WORK/c2.img" "fast receiver 2"

rm -f "$WORK"/c[123].img

# ---- automatic mode: pending session work, img -auto joins the session
note "$SECONDS s into the test"
N3=e2e-auto
M1=52:54:00:5e:00:01 M2=52:54:00:5e:00:02
srvctl -work $M1 session $N3 -key="$WORK/key"
expect_rc 0 "pending session work for $M1"
srvctl -work $M2 session $N3 -key="$WORK/key"
expect_rc 0 "pending session work for $M2"
srvctl -session start $N3 lab/a.img -clients=2 -timeout=2 -key="$WORK/key"
expect_rc 0 "start the session for automatic imaging"
blank "$WORK/a1.img" "$size"
blank "$WORK/a2.img" "$size"
sess_start auto1 1 $T -auto $SRV -mac=$M1 -disk="$WORK/a1.img"
sess_start auto2 2 $T -auto $SRV -mac=$M2 -disk="$WORK/a2.img"
for i in 1 2; do
	sess_wait auto$i
	expect_rc 0 "img -auto $i joins session $N3"
	sess_expect_err auto$i "work for .*: session $N3" "img -auto $i says what it does"
done
session_wait $N3 "done: 2 done, 0 failed, 0 dropped" 30 &&
	pass "-session list: $N3 done, 2 done" ||
	fail "-session list does not show $N3 done: $(tr '\n' ' ' <"$WORK/ctl.out")"
run_check "$WORK/src.img" "$WORK/a1.img"
same_disk "$WORK/a1.img" "$WORK/a2.img" "img -auto 2"
srvctl -work list -key="$WORK/key"
grep -q "$M1\|$M2" "$WORK/ctl.out" && fail "session work not cleared after success" ||
	pass "the pending session work was cleared by the reports"

srvctl -status
ctl_expect out "^Images Sent: 7$" "-status: 2 + 2 + 2 by multicast, 1 by the catch-up"
"$IMGSERV" -log -state="$WORK/srv/state" -conf=/dev/null >"$WORK/log.txt" ||
	fail "imgserv -log"
sed 's/^/#   /' "$WORK/log.txt"
grep -Eq "  session  lab/a.img  [0-9]+  ok  session $N: 2 done, 0 failed, 0 dropped" "$WORK/log.txt" &&
	pass "log: the first session, ok, with its outcome" || fail "log has no ok record of session $N"
grep -Eq "  session  lab/a.img  [0-9]+  ok  session $N2: 2 done, 0 failed, 1 dropped" "$WORK/log.txt" &&
	pass "log: the catch-up session, ok, one dropped" || fail "log has no record of session $N2"
grep -Eq "  session  lab/a.img  .*denied  .*already running" "$WORK/log.txt" &&
	pass "log: the refused second start" || fail "log has no denied start"
grep -Eq "  get  lab/a.img  [0-9]+  ok" "$WORK/log.txt" &&
	pass "log: the catch-up GET, ok" || fail "log has no ok get record for the catch-up"
grep -Eq "  report  $N3  .*  ok" "$WORK/log.txt" &&
	pass "log: the automatic session work reported ok" || fail "log has no ok report of $N3"
"$IMGSERV" -stations -state="$WORK/srv/state" -conf=/dev/null >"$WORK/st.txt" 2>&1
sed 's/^/#   /' "$WORK/st.txt"
grep -q "$M1.*lab/a.img" "$WORK/st.txt" &&
	pass "stations: $M1 received lab/a.img by the session" || fail "stations lack $M1 with lab/a.img"
# the daemon's own log (under sanitizers, their reports land there too)
grep -Ei "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/srv/log" | head -5 |
	sed 's/^/#   server: /'
grep -Eiq "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/srv/log" &&
	fail "the server's log has a sanitizer report" || pass "the server's log has no sanitizer report"
e2e_finish
