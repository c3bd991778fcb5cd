#!/bin/bash
# A disk with 4096-byte logical sectors (a loop device made with -b 4096):
# GPT with an ext4 partition is captured, restored onto another 4K disk
# (tables and partition identical, fsck clean), and a restore onto a disk
# with 512-byte sectors is refused, naming the sector sizes, with nothing
# written.
. "$(dirname "$0")/lib.sh"
e2e_init sector4k

mk4k() { # mk4k FILE: a 4096-byte-sector loop device on FILE, in $LOOP
	truncate -s 64M "$1" || fatal "truncate $1"
	LOOP=$(losetup -f --show -b 4096 "$1") || fatal "losetup -b 4096 $1"
	E2E_LOOPS+=("$LOOP")
}
mk4k "$WORK/src.img"
src=$LOOP
[ "$(blockdev --getss "$src")" = 4096 ] || skip "this kernel cannot make 4096-byte-sector loop devices"
printf 'label: gpt\nstart=256, size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n' |
	sfdisk -q "$src" || fatal "sfdisk on $src"
mkdir -p "$WORK/tree/d"
seq 1 50000 >"$WORK/tree/d/numbers"
head -c 3M /dev/urandom >"$WORK/tree/random"
ln -s d/numbers "$WORK/tree/link"
mkfs.ext4 -q -b 4096 -L four -d "$WORK/tree" "$WORK/fs" 32M || fatal "mkfs.ext4"
dd if="$WORK/fs" of="$src" bs=4096 seek=256 conv=notrunc status=none || fatal "dd"

run_img -makel "$WORK/disk.img" -disk="$src"
expect_rc 0 "capture a 4096-byte-sector disk"
run_img -imginfo "$WORK/disk.img"
grep -q '4096-byte sectors' "$WORK/out" && pass "imginfo shows 4096-byte sectors" ||
	fail "imginfo does not show 4096-byte sectors"

mk4k "$WORK/dst.img"
dst=$LOOP
run_img -restorel "$WORK/disk.img" -disk="$dst"
expect_rc 0 "restore onto a 4096-byte-sector disk"
[ "$(sfdisk -d "$src" | grep -v '^device:' | sed "s|$src|D|")" = \
  "$(sfdisk -d "$dst" | grep -v '^device:' | sed "s|$dst|D|")" ] &&
	pass "partition tables identical" || fail "partition tables differ"
cmp -s <(dd if="$src" bs=4096 skip=256 count=8192 status=none) \
       <(dd if="$dst" bs=4096 skip=256 count=8192 status=none) &&
	pass "partition bytes identical" || fail "partition bytes differ"
dd if="$dst" of="$WORK/back.fs" bs=4096 skip=256 count=8192 status=none
e2fsck -fn "$WORK/back.fs" >/dev/null 2>&1 && pass "restored ext4 is fsck clean" ||
	fail "restored ext4 fails fsck"

blank "$WORK/small512.img" 64M
before=$(sha "$WORK/small512.img")
run_img -restorel "$WORK/disk.img" -disk="$WORK/small512.img"
expect_fail "restore onto a 512-byte-sector disk" '4096-byte sectors' '512-byte sectors'
[ "$(sha "$WORK/small512.img")" = "$before" ] && pass "512-byte-sector target untouched" ||
	fail "512-byte-sector target was written"
e2e_finish
