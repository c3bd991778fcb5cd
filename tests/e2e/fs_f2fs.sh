#!/bin/bash
# F2FS by its used blocks (partfmt/f2fs.c): a GPT disk with an F2FS made
# by mkfs.f2fs over stale random bytes and filled offline by sload.f2fs
# with the posix tree (this kernel has no F2FS to mount).  Captured with
# -makel, restored onto a blank disk of the same size and a larger one;
# check.sh runs fsck.f2fs --dry-run and compares the used blocks
# partclone.f2fs maps.  The image must be smaller than the used bytes plus
# 5% of the partition.  A checkpoint without the clean-unmount flag is
# captured raw with that reason.
. "$(dirname "$0")/lib.sh"
e2e_init fs_f2fs
for t in mkfs.f2fs sload.f2fs fsck.f2fs partclone.f2fs; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs f2fs-tools and partclone)"
done
MIB=$((1024 * 1024))
P1=$MIB N1=$((256 * MIB))
D=$WORK/src.img
blank "$D" $((P1 + N1 + MIB))
sgdisk -n1:$((P1 / 512)):$(((P1 + N1) / 512 - 1)) -t1:8300 "$D" >/dev/null || fatal "sgdisk"
stale_bytes "$D" $P1 $N1 51
part_loop "$D" $P1 $N1
mkfs.f2fs -q -f -t 0 -l lab "$LOOPDEV" >/dev/null || fatal "mkfs.f2fs"
mkdir "$WORK/stage"
python3 "$FIXTURES/gentree.py" posix "$WORK/stage" --files 1500 --big $((24 * MIB)) --seed 52 ||
	fatal "stage the tree"
sload.f2fs -f "$WORK/stage" "$LOOPDEV" >"$WORK/sload.out" 2>&1 ||
	{ sed 's/^/#   /' "$WORK/sload.out"; fatal "sload.f2fs"; }
fsck.f2fs --dry-run "$LOOPDEV" >"$WORK/fsck.out" 2>&1 && ! grep -q 'Fail\]' "$WORK/fsck.out" ||
	{ sed 's/^/#   /' "$WORK/fsck.out"; fatal "fsck.f2fs on the source"; }
loops_detach
pass "made a GPT disk with an F2FS filled by sload.f2fs over stale bytes"

fs_roundtrip f2fs "$D" $N1 1

# the checkpoint without CP_UMOUNT_FLAG, its CRC made right again: a
# filesystem that was not cleanly unmounted
python3 - "$D" $P1 <<'PY' || fatal "clear the clean-unmount flag"
import struct, sys, zlib
f = open(sys.argv[1], "r+b")
base = int(sys.argv[2])
f.seek(base + 1024)
sb = f.read(3072)
cp_blk, = struct.unpack_from("<I", sb, 76)
log_bps, = struct.unpack_from("<I", sb, 20)
best = None
for start in (cp_blk, cp_blk + (1 << log_bps)):
    f.seek(base + start * 4096)
    cp = bytearray(f.read(4096))
    ver, = struct.unpack_from("<Q", cp, 0)
    if best is None or ver > best[1]:
        best = (start, ver, cp)
start, ver, cp = best
at, = struct.unpack_from("<I", cp, 164)
flags, = struct.unpack_from("<I", cp, 132)
struct.pack_into("<I", cp, 132, flags & ~1)
crc = ~zlib.crc32(bytes(cp[:at]), ~0xF2F52010 & 0xffffffff) & 0xffffffff
struct.pack_into("<I", cp, at, crc)
f.seek(base + start * 4096)
f.write(cp)
PY
fs_dirty_raw "$D" 1 'f2fs: not cleanly unmounted'
e2e_finish
