#!/bin/bash
# Missing files and usage errors: a missing image, a missing target disk,
# a missing source disk all give exit 1 and a message naming the path;
# a failed -makel into the path of an existing good image leaves that
# image intact; an unknown option is a usage error (exit 2).
# (Never run img here without -disk: it would pick the machine's disks.)
. "$(dirname "$0")/lib.sh"
e2e_init bad_missing

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"
goodsha=$(sha "$WORK/good.img")
blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
clean=$(sha "$WORK/dst.img")

run_img -restorel "$WORK/nonexistent.img" -disk="$WORK/dst.img"
expect_fail "restore from a missing image" 'nonexistent\.img' 'no such file|not found|cannot open|does not exist'
[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "target untouched (missing image)" || fail "target written (missing image)"

run_img -restorel "$WORK/good.img" -disk="$WORK/nodisk.img"
expect_fail "restore onto a missing disk" 'nodisk\.img'
[ -e "$WORK/nodisk.img" ] && fail "restore created the missing target $WORK/nodisk.img" ||
	pass "missing target not created"

run_img -makel "$WORK/new.img" -disk="$WORK/nodisk.img"
expect_fail "make from a missing disk" 'nodisk\.img'
[ -e "$WORK/new.img" ] && fail "failed capture left $WORK/new.img behind" || pass "no image left by failed capture"

run_img -makel "$WORK/good.img" -disk="$WORK/nodisk.img"
expect_fail "make into an existing image path from a missing disk" 'nodisk\.img'
[ "$(sha "$WORK/good.img")" = "$goodsha" ] && pass "existing image intact after failed capture" ||
	fail "existing image $WORK/good.img damaged by a failed capture"
run_img -verify "$WORK/good.img"
expect_rc 0 "existing image still verifies"
ls -a "$WORK" | grep -v -e '^\.\.\?$' >"$WORK/listing"
grep -qvE '^(src|good|dst)\.img$|^(out|err|listing)$' "$WORK/listing" &&
	fail "temporary files left in $WORK: $(grep -vE '^(src|good|dst)\.img$|^(out|err|listing)$' "$WORK/listing" | tr '\n' ' ')" ||
	pass "no temporary files left next to the image"

run_img -bogus-option
expect_rc 2 "unknown option is a usage error"
e2e_finish
