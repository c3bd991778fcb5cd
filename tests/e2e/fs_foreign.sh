#!/bin/bash
# Volumes whose used blocks cannot be known are named, never guessed at
# (partfmt/registry.c): a LUKS2 container (cryptsetup), a bcache backing
# device (make-bcache) and a partition of random bytes (what a VeraCrypt
# volume looks like) beside an ext4.  -dump and the capture's notes say
# what each is and that it is captured raw; the restore is byte-exact
# for the raw ones and checked by check.sh for all.
. "$(dirname "$0")/lib.sh"
e2e_init fs_foreign
for t in cryptsetup make-bcache mkfs.ext4; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs cryptsetup-bin and bcache-tools)"
done

MIB=$((1024 * 1024))
D=$WORK/src.img
blank "$D" $((170 * MIB))
sgdisk -n1:2048:+32M -t1:8309 -n2:0:+32M -t2:8300 -n3:0:+32M -t3:8300 -n4:0:+48M -t4:8300 \
	"$D" >/dev/null || fatal "sgdisk"
start() { python3 "$CMPFS" parts "$D" | awk -v n="$1" '$1 == n { print $2 }'; }
size() { python3 "$CMPFS" parts "$D" | awk -v n="$1" '$1 == n { print $3 }'; }
loop() {
	LOOPDEV=$(losetup -f --show -o "$(start "$1")" --sizelimit "$(size "$1")" "$D") || fatal "losetup p$1"
	E2E_LOOPS+=("$LOOPDEV")
}
loop 1
printf 'a passphrase\n' | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 "$LOOPDEV" >/dev/null 2>&1 || fatal "cryptsetup luksFormat"
loop 2
make-bcache -B "$LOOPDEV" >/dev/null || fatal "make-bcache -B"
head -c "$(size 3)" /dev/urandom | dd of="$D" bs=1M seek=$(($(start 3) / MIB)) conv=notrunc status=none ||
	fatal "random bytes into p3"
loop 4
mkfs.ext4 -q -F "$LOOPDEV" || fatal "mkfs.ext4"
loops_detach
pass "made a GPT disk with LUKS2, bcache, random bytes and ext4 partitions"

dump_disk "$D"
expect_dump() { # N REGEX WHAT
	grep -E "^ *$1 .*$2" "$WORK/out" >/dev/null && pass "-dump p$1: $3" ||
		fail "-dump p$1 lacks /$2/: $(grep -E "^ *$1 " "$WORK/out")"
}
expect_dump 1 'crypto_LUKS .*raw: LUKS volume \(encrypted; used blocks unknown\)' "LUKS2 named, raw"
expect_dump 2 'bcache .*raw: bcache device \(a cache layer; used blocks unknown\)' "bcache named, raw"
expect_dump 3 'raw: no filesystem signature, and the first sector looks random \(an encrypted volume' \
	"random bytes named as a possible encrypted volume, raw"
expect_dump 4 'ext4 .*used blocks' "ext4 beside them still maps by its used blocks"

run_img -makel "$WORK/a.img" -disk="$D"
expect_rc 0 "capture"
grep -q 'partition 1 (crypto_LUKS): captured raw: LUKS volume (encrypted; used blocks unknown)' "$WORK/err" &&
	pass "the capture's note names the LUKS volume" ||
	fail "no LUKS note in the capture's messages: $(head -c 400 "$WORK/err")"
blank "$WORK/dst.img" "$(fsize "$D")"
run_img -restorel "$WORK/a.img" -disk="$WORK/dst.img"
expect_rc 0 "restore"
run_check "$D" "$WORK/dst.img"
e2e_finish
