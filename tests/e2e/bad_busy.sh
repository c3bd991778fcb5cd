#!/bin/bash
# A target disk with a mounted partition is refused (exit 1, "in use" /
# busy / mounted) and left unchanged; once unmounted, the same restore
# onto the loop device succeeds and checks out (control).
. "$(dirname "$0")/lib.sh"
e2e_init bad_busy partx

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"

cp --sparse=always "$WORK/src.img" "$WORK/dst.img"
losetup_part "$WORK/dst.img" || skip "loop device has no partition nodes (no partscan)"
dev=$LOOPDEV
mkdir "$WORK/mnt"
mount -o ro,noload "${dev}p4" "$WORK/mnt" || fatal "cannot mount ${dev}p4"
E2E_MOUNTS+=("$WORK/mnt")
sync
clean=$(sha "$WORK/dst.img")
run_img -restorel "$WORK/good.img" -disk="$dev"
expect_fail "restore onto $dev with ${dev}p4 mounted" 'in use|busy|mounted'
sync
[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "busy target unchanged" || fail "busy target was written"

run_img -restorel "$WORK/good.img" -ap=a4:p4 -disk="$dev"
expect_fail "restore into mounted partition 4 of $dev" 'in use|busy|mounted'
sync
[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "busy target unchanged (-ap)" || fail "busy target was written (-ap)"

umount "$WORK/mnt" && E2E_MOUNTS=()
# old data in the ESP, so that the control restore has something to fix
dd if=/dev/zero of="$dev" bs=1M count=8 seek=1 conv=fsync status=none
run_img -restorel "$WORK/good.img" -disk="$dev"
expect_rc 0 "restore onto $dev once unmounted (control)"
sync
losetup -d "$dev" && E2E_LOOPS=()
run_check "$WORK/src.img" "$WORK/dst.img"
e2e_finish
