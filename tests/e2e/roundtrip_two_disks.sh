#!/bin/bash
# One image of two disks (GPT and MBR) restored onto two blank disks of
# the same sizes: both check out.
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_two_disks

copy_fixture gpt small "$WORK/a.img"
copy_fixture mbr small "$WORK/b.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/a.img" -disk="$WORK/b.img"
expect_rc 0 "make image of two disks"
[ -s "$WORK/disk.img" ] || fatal "no image written"
blank "$WORK/a2.img" "$(fsize "$WORK/a.img")"
blank "$WORK/b2.img" "$(fsize "$WORK/b.img")"
run_img -restorel "$WORK/disk.img" -disk="$WORK/a2.img" -disk="$WORK/b2.img"
expect_rc 0 "restore onto two disks"
run_check "$WORK/a.img" "$WORK/a2.img"
run_check "$WORK/b.img" "$WORK/b2.img"
e2e_finish
