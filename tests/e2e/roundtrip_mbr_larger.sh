#!/bin/bash
# MBR image restored onto a larger disk that holds stale data (a pattern):
# the same table and EBR chain, identical used blocks, raw partition and
# swap header, boot code and gap.
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_mbr_larger

copy_fixture mbr small "$WORK/src.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/disk.img" ] || fatal "no image written"

pattern "$WORK/dst.img" $(($(fsize "$WORK/src.img") + 96 * 1024 * 1024))
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst.img"
expect_rc 0 "restore onto a larger disk with old data"
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
