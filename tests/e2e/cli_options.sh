#!/bin/bash
# The command line's option table: options before the mode word work
# (img -disk=X -makel F), an option the mode does not take is refused
# naming the mode and the modes it belongs to, a bad number is refused
# naming the option and its range (the session limits of img.h), and
# imgserv's -option and conf key of one setting agree.
. "$(dirname "$0")/lib.sh"
e2e_init cli_options

copy_fixture gpt small "$WORK/src.img"
run_img -disk="$WORK/src.img" -makel "$WORK/a.img"
expect_rc 0 "img -disk=X -makel F (option before the mode)"
run_img -verify "$WORK/a.img"
expect_rc 0 "the image made with -disk before the mode verifies"

run_img -makel "$WORK/b.img" -throttle=3 -disk="$WORK/src.img"
expect_rc 2 "img -makel F -throttle=3"
grep -q -- '^img -makel: -throttle is not an option of this mode (it belongs to -session)' \
	"$WORK/err" && grep -q '^usage: img -makel' "$WORK/err" &&
	pass "-throttle with -makel: the message names the mode, the option and its mode" ||
	fail "-throttle with -makel: stderr $(head -c 300 "$WORK/err" | tr '\n' ' ')"
[ -e "$WORK/b.img" ] && fail "a refused command line wrote an image" ||
	pass "a refused command line writes nothing"
run_img -auto 127.0.0.1:1 -comp=6
expect_rc 2 "img -auto -comp=6 is refused (-auto makes at the defaults)"
grep -q -- '-comp is not an option of this mode' "$WORK/err" &&
	pass "-comp with -auto: says so" || fail "-comp with -auto: $(head -c 300 "$WORK/err")"

run_img -session lab -master -clients=257
expect_rc 2 "-clients=257"
expect_err '-clients takes 1 to 256' "-clients=257 names the option and its range"
run_img -session lab -master -timeout=1441
expect_rc 2 "-timeout=1441"
expect_err '-timeout takes minutes, more than 0 and at most 1440' "-timeout=1441 names the range"
run_img -makel "$WORK/c.img" -comp=1x
expect_rc 2 "-comp=1x"
expect_err '-comp takes 0 to 9' "-comp=1x names the option and its range"

run_img -restorel "$WORK/a.img" -ap=a1:p -disk="$WORK/src.img"
expect_rc 2 "-ap=a1:p"
expect_err '-ap takes aN:pM' "-ap=a1:p names the form"
run_img -makel "$WORK/c.img" -ap=a1:p1 -disk="$WORK/src.img"
expect_rc 2 "-ap with -makel"
grep -q -- '-ap is not an option of this mode (it belongs to -restorel, -restorep)' \
	"$WORK/err" && pass "-ap with -makel: names the modes it belongs to" ||
	fail "-ap with -makel: $(head -c 300 "$WORK/err")"

run_img -session lab -master=1
expect_rc 2 "-master=1"
expect_err '-master takes no value' "a flag given a value is refused"
run_img -makel "$WORK/c.img" -codec=lz4 -disk="$WORK/src.img"
expect_rc 2 "-codec=lz4"
expect_err '-codec takes zstd or deflate: -codec=lz4' "-codec=lz4 names the forms it takes"
run_img -makel "$WORK/c.img" -threads -disk="$WORK/src.img"
expect_rc 2 "-threads without a value"
expect_err '-threads needs a value' "a valued option given none is refused"

# imgserv: -port= and port= of the same setting; -status reaches nothing on
# port 1, and both say the same.
printf 'port = 1\n' >"$WORK/p.conf"
"$IMGSERV" -conf="$WORK/p.conf" -status >"$WORK/s1" 2>&1; r1=$?
"$IMGSERV" -conf=/dev/null -port=1 -status >"$WORK/s2" 2>&1; r2=$?
[ "$r1" = "$r2" ] && cmp -s "$WORK/s1" "$WORK/s2" &&
	pass "imgserv port=1 and -port=1 give the same result (exit $r1)" ||
	fail "port=1: exit $r1 $(cat "$WORK/s1"); -port=1: exit $r2 $(cat "$WORK/s2")"
printf 'port = 70000\n' >"$WORK/p.conf"
"$IMGSERV" -conf="$WORK/p.conf" -status >"$WORK/s1" 2>&1; r1=$?
"$IMGSERV" -conf=/dev/null -port=70000 -status >"$WORK/s2" 2>&1; r2=$?
[ "$r1" = 2 ] && [ "$r2" = 2 ] && grep -q 'port takes 1 to 65535' "$WORK/s1" &&
	grep -q 'port takes 1 to 65535' "$WORK/s2" &&
	pass "imgserv port=70000 and -port=70000 are both refused, naming the range" ||
	fail "port=70000: exit $r1 $(cat "$WORK/s1"); -port=70000: exit $r2 $(cat "$WORK/s2")"
"$IMGSERV" -session start lab lab/a.img -clients=257 -key=/dev/null >"$WORK/s1" 2>&1; r1=$?
[ "$r1" = 2 ] && grep -q -- '-clients= takes a whole number from 0 to 256' "$WORK/s1" &&
	pass "imgserv -clients=257 refused with the same limit as img" ||
	fail "imgserv -clients=257: exit $r1 $(cat "$WORK/s1")"
printf 'http_port = x\n' >"$WORK/p.conf"
"$IMGSERV" -conf="$WORK/p.conf" -status >"$WORK/s1" 2>&1; r1=$?
"$IMGSERV" -conf=/dev/null -http=x -status >"$WORK/s2" 2>&1; r2=$?
[ "$r1" = 2 ] && [ "$r2" = 2 ] && grep -q 'p.conf:1: http_port takes 0 to 65535 (0: off)' "$WORK/s1" &&
	grep -q -- '-http takes 0 to 65535 (0: off): x' "$WORK/s2" &&
	pass "imgserv http_port=x and -http=x: one table entry, one range" ||
	fail "http_port=x: exit $r1 $(cat "$WORK/s1"); -http=x: exit $r2 $(cat "$WORK/s2")"
e2e_finish
