#!/bin/bash
# MBR disk (primary ext4, extended with FAT16 and swap logicals, raw
# primary) imaged and restored onto a blank disk of the same size.
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_mbr

copy_fixture mbr small "$WORK/src.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/disk.img" ] || fatal "no image written"

blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst.img"
expect_rc 0 "restore onto blank disk of the same size"
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
