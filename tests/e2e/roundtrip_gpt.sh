#!/bin/bash
# GPT disk (FAT32 ESP, MSR, NTFS, ext4) imaged and restored onto a blank
# disk of the same size: check.sh finds every partition fsck-clean with an
# identical tree and identical used blocks, and identical tables and boot
# areas.
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_gpt

copy_fixture gpt small "$WORK/src.img"
srcsha=$(sha "$WORK/src.img")

run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/disk.img" ] || fatal "no image written"
if [ "$(fsize "$WORK/disk.img")" -lt "$(fsize "$WORK/src.img")" ]; then
	pass "image ($(fsize "$WORK/disk.img") bytes) smaller than the disk ($(fsize "$WORK/src.img"))"
else
	fail "image $(fsize "$WORK/disk.img") bytes is not smaller than the disk $(fsize "$WORK/src.img")"
fi
[ "$(sha "$WORK/src.img")" = "$srcsha" ] && pass "source disk unchanged by capture" ||
	fail "capture modified the source disk"

blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst.img"
expect_rc 0 "restore onto blank disk of the same size"
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
