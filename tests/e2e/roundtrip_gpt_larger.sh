#!/bin/bash
# GPT image restored onto a larger blank disk: same partitions (start, size,
# type, uuid, name, attributes), identical contents and boot areas, and a
# valid GPT whose backup header sits at the new end (sgdisk -v clean).
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_gpt_larger

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/disk.img" ] || fatal "no image written"

blank "$WORK/dst.img" $(($(fsize "$WORK/src.img") + 200 * 1024 * 1024 + 512 * 7))
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst.img"
expect_rc 0 "restore onto a disk 200 MiB + 7 sectors larger"
[ "$(fsize "$WORK/dst.img")" = $(($(fsize "$WORK/src.img") + 200 * 1024 * 1024 + 512 * 7)) ] &&
	pass "target disk size unchanged" || fail "restore changed the target file's size to $(fsize "$WORK/dst.img")"
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
