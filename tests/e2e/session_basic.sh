#!/bin/bash
# img -session on the network test bed: a device master (node m) sends its
# disk to 4 receivers (nodes 1..4) that restore onto blank disks of the
# source's size.  Master and receivers exit 0, the master reports every
# receiver done, every target passes check.sh (used blocks byte-identical,
# fsck clean, identical trees and tables) and the master's disk is
# untouched.  Then the same with 1 % loss into every receiver and 5 % into
# receiver 2.  Times are notes, never assertions.
. "$(dirname "$0")/lib.sh"
e2e_init session_basic

copy_fixture gpt small "$WORK/src.img"
orig=$(sha "$FIXTURE")
size=$(fsize "$WORK/src.img")
P=sb$$   # the bed's prefix: unique while the test runs (a pid)
N=e2e-basic
T=100   # bound of every img run, seconds

# round LABEL ORDER [netbed options...]: one session to 4 receivers;
# ORDER master-first or clients-first
round() {
	local label=$1 order=$2 i t0
	shift 2
	bed_up "$P" 4 "$@"
	for i in 1 2 3 4; do blank "$WORK/$label$i.img" "$size"; done
	t0=$(now)
	[ "$order" = master-first ] &&
		sess_start "$label-m" m $T -session $N -master -clients=4 -disk="$WORK/src.img"
	for i in 1 2 3 4; do
		sess_start "$label-r$i" $i $T -session $N -client -disk="$WORK/$label$i.img"
	done
	if [ "$order" = clients-first ]; then
		sleep 1
		sess_start "$label-m" m $T -session $N -master -clients=4 -disk="$WORK/src.img"
	fi
	sess_wait "$label-m"
	expect_rc 0 "$label: master"
	for i in 1 2 3 4; do
		sess_wait "$label-r$i"
		expect_rc 0 "$label: receiver $i"
	done
	note "$label: the whole session took $(since "$t0") s"
	bed_down
	[ "$(grep -Eic "^img: session $N: client 198\.18\.0\.1[1-4] .*registered \([1-4] of 4\)" \
		"$WORK/$label-m.err")" = 4 ] && pass "$label: master saw 4 registrations (1..4 of 4)" ||
		fail "$label: master did not report 4 registrations: $(grep -i registered "$WORK/$label-m.err" | tr '\n' ' ')"
	sess_expect_err "$label-m" "session $N: starting.*\(count reached\)" "$label: start by count"
	sess_expect_err "$label-m" "session $N: starting with 4 clients" "$label: start line names the count"
	for i in 1 2 3 4; do sess_master_report "$label-m" $N $i done; done
	sess_expect_err "$label-m" "session $N: 4 done, 0 failed, 0 dropped" "$label: master total"
	[ "$(sha "$WORK/src.img")" = "$orig" ] && pass "$label: the master's disk is unchanged" ||
		fail "$label: the master's disk changed"
	if [ "$label" = lossy ]; then
		# the 5 % receiver saw losses, and they were repaired
		sess_expect_err "$label-r2" "session $N: [0-9]+ packets received, [1-9][0-9]* found missing and repaired" \
			"$label: receiver 2 reports packets lost and repaired"
	else
		sess_expect_err "$label-r1" "session $N: [0-9]+ packets received, [0-9]+ found missing" \
			"$label: receiver 1 reports its packet counts"
	fi
	for i in 1 2 3 4; do run_check "$WORK/src.img" "$WORK/$label$i.img"; done
	rm -f "$WORK/$label"[1-4].img
}

round clean master-first
round lossy clients-first --loss 1:10000 --loss 2:10000 --loss 3:10000 --loss 4:10000 --loss 2:50000
e2e_finish
