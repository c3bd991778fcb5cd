#!/bin/bash
# Wrong magic and an unknown format version (u16 LE at offset 8 set to 99)
# are refused by -restorel, -verify and -imginfo with exit 1 and a message
# about the magic / the version; nothing is written to the target.
. "$(dirname "$0")/lib.sh"
e2e_init bad_header

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"
pattern "$WORK/dst.img" "$(fsize "$WORK/src.img")"
clean=$(sha "$WORK/dst.img")

cp "$WORK/good.img" "$WORK/magic.img"
printf 'J' | dd of="$WORK/magic.img" bs=1 seek=1 conv=notrunc status=none
cp "$WORK/good.img" "$WORK/version.img"
printf '\143\000' | dd of="$WORK/version.img" bs=1 seek=8 conv=notrunc status=none
[ "$(od -An -tu2 -j8 -N2 "$WORK/version.img" | tr -d ' ')" = 99 ] || fatal "version patch failed"

for v in "magic:magic|not an img|format|signature" "version:version"; do
	k=${v%%:*} re=${v#*:}
	run_img -imginfo "$WORK/$k.img"
	expect_fail "imginfo, bad $k" "$re"
	run_img -verify "$WORK/$k.img"
	expect_fail "verify, bad $k" "$re"
	run_img -restorel "$WORK/$k.img" -disk="$WORK/dst.img"
	expect_fail "restore, bad $k" "$re"
	[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "target untouched (bad $k)" ||
		fail "target written although the image has a bad $k"
done
grep -q 99 "$WORK/err" && pass "version message names version 99" ||
	fail "version message does not name 99: $(head -c 200 "$WORK/err")"
e2e_finish
