#!/bin/bash
# The large GPT fixture (~1.8 GiB: 256 MiB mixed file on NTFS, 200 MiB on
# ext4, thousands of files) round-trips onto a blank disk of the same size
# and checks out; the image verifies and is smaller than the used data.
. "$(dirname "$0")/lib.sh"
e2e_init roundtrip_large

copy_fixture gpt large "$WORK/src.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image of the large disk"
[ -s "$WORK/disk.img" ] || fatal "no image written"
run_img -verify "$WORK/disk.img"
expect_rc 0 "verify"
blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst.img"
expect_rc 0 "restore"
alloc=$(du -B1 "$WORK/src.img" | cut -f1)
note "image $(fsize "$WORK/disk.img") bytes, source disk allocates $alloc bytes"
[ "$(fsize "$WORK/disk.img")" -lt "$alloc" ] && pass "image smaller than the allocated source data" ||
	fail "image $(fsize "$WORK/disk.img") not smaller than the source's allocated $alloc bytes"
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
