#!/bin/bash
# An image larger than the target: restoring onto a smaller disk, and -ap
# into a partition smaller than the image partition, fail with exit 1 and
# a message about the size; nothing is written.
. "$(dirname "$0")/lib.sh"
e2e_init bad_toosmall

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"
SMALL='too small|smaller|larger|does not fit|not enough|too large|has only'

# whole disk: target half the source's size (the last partitions cannot fit)
pattern "$WORK/small.img" $(($(fsize "$WORK/src.img") / 2))
clean=$(sha "$WORK/small.img")
run_img -restorel "$WORK/good.img" -disk="$WORK/small.img"
expect_fail "restore onto a disk half the size" "$SMALL"
[ "$(sha "$WORK/small.img")" = "$clean" ] && pass "smaller target untouched" ||
	fail "smaller target was written"

# one partition: image partition 4 (ext4, 48 MiB) into target partition 1 (36 MiB)
cp --sparse=always "$WORK/src.img" "$WORK/dst.img"
clean=$(sha "$WORK/dst.img")
run_img -restorel "$WORK/good.img" -ap=a4:p1 -disk="$WORK/dst.img"
expect_fail "restore partition 4 into smaller partition 1" "$SMALL"
[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "target untouched (-ap into smaller partition)" ||
	fail "target written by -ap into a smaller partition"
e2e_finish
