#!/bin/bash
# exFAT by its used blocks (partfmt/exfat.c): a GPT disk with two exFAT
# volumes made by mkfs.exfat (default clusters, and 4 KiB clusters),
# filled through exfat-fuse with the fat tree (long and Unicode names),
# part of it deleted again, over stale random bytes.  Captured with
# -makel, restored onto a blank disk of the same size and a larger one;
# check.sh runs fsck.exfat -n, compares the used blocks partclone.exfat
# maps and the file trees.  The image must be smaller than the used bytes
# plus 5% of the partitions.  A volume marked dirty is captured raw with
# that reason and restored byte for byte.
. "$(dirname "$0")/lib.sh"
e2e_init fs_exfat
for t in mkfs.exfat fsck.exfat mount.exfat-fuse partclone.exfat; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs exfatprogs, exfat-fuse and partclone)"
done
[ -c /dev/fuse ] || skip "no /dev/fuse (exfat-fuse cannot mount)"

MIB=$((1024 * 1024))
P1=$((1 * MIB)) N1=$((160 * MIB)) P2=$((162 * MIB)) N2=$((96 * MIB))
D=$WORK/src.img
blank "$D" $((P2 + N2 + MIB))
sgdisk -n1:$((P1 / 512)):$(((P1 + N1) / 512 - 1)) -t1:0700 -n2:$((P2 / 512)):$(((P2 + N2) / 512 - 1)) -t2:0700 \
	"$D" >/dev/null || fatal "sgdisk on the source disk"
stale_bytes "$D" $P1 $((P2 + N2 - P1)) 5
fill() { # fill DEV SEED FILES BIG
	mkdir -p "$WORK/m"
	mount.exfat-fuse "$1" "$WORK/m" >/dev/null 2>&1 || fatal "mount.exfat-fuse $1"
	E2E_MOUNTS+=("$WORK/m")
	python3 "$FIXTURES/gentree.py" fat "$WORK/m" --files "$3" --big "$4" --seed "$2" ||
		fatal "fill the exFAT volume"
	mkdir "$WORK/m/gone" && python3 "$FIXTURES/gentree.py" fat "$WORK/m/gone" --files 300 \
		--big $((8 * MIB)) --seed $(($2 + 1)) || fatal "fill what will be deleted"
	rm -rf "$WORK/m/gone" "$WORK/m/data/d000/sub01"
	umount "$WORK/m" || fatal "umount the exFAT volume"
	E2E_MOUNTS=()
}
part_loop "$D" $P1 $N1
mkfs.exfat -L stick "$LOOPDEV" >/dev/null || fatal "mkfs.exfat"
fill "$LOOPDEV" 21 1500 $((30 * MIB))
part_loop "$D" $P2 $N2
mkfs.exfat -c 4K -L card "$LOOPDEV" >/dev/null || fatal "mkfs.exfat -c 4K"
fill "$LOOPDEV" 23 800 $((12 * MIB))
for l in "${E2E_LOOPS[@]}"; do
	fsck.exfat -n "$l" >"$WORK/fsck.out" 2>&1 || { sed 's/^/#   /' "$WORK/fsck.out"; fatal "fsck.exfat -n on the source $l"; }
	losetup -d "$l"
done
E2E_LOOPS=()
pass "made a GPT disk with two exFAT volumes (filled through exfat-fuse, partly deleted) over stale bytes"

fs_roundtrip exfat "$D" $((N1 + N2)) 1 2

# marked dirty (VolumeFlags bit 1; the boot checksum leaves the flags out)
python3 - "$D" $((P2 + 106)) <<'PY' || fatal "set VolumeDirty"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); v = int.from_bytes(f.read(2), "little") | 2
    f.seek(int(sys.argv[2])); f.write(v.to_bytes(2, "little"))
PY
# exFAT on the bare disk (a USB stick formatted without a partition
# table): libparted reads its 55 AA as an MBR; img must see the volume
S=$WORK/stick.img
blank "$S" $((48 * MIB))
mkfs.exfat -L bare "$S" >/dev/null || fatal "mkfs.exfat on the bare stick"
part_loop "$S" 0 $((48 * MIB))
fill "$LOOPDEV" 25 200 $((4 * MIB))
loops_detach
dump_disk "$S"
grep -qE '^ *1 +0 .* exfat .*used blocks' "$WORK/out" &&
	pass "-dump: the bare-disk exFAT is one area at byte 0, by its used blocks" ||
	fail "-dump of the bare stick: $(tail -2 "$WORK/out" | tr '\n' ' ')"
run_img -makel "$WORK/stick-a.img" -disk="$S"
expect_rc 0 "capture the bare stick"
blank "$WORK/stick-dst.img" $((48 * MIB))
run_img -restorel "$WORK/stick-a.img" -disk="$WORK/stick-dst.img"
expect_rc 0 "restore the bare stick"
fsck.exfat -n "$WORK/stick-dst.img" >"$WORK/fsck.out" 2>&1 && pass "fsck.exfat -n clean on the restored stick" ||
	fail "fsck.exfat -n on the restored stick: $(tail -3 "$WORK/fsck.out" | tr '\n' ' ')"
mkdir -p "$WORK/ms" "$WORK/md"
part_loop "$S" 0 $((48 * MIB)); ls=$LOOPDEV
part_loop "$WORK/stick-dst.img" 0 $((48 * MIB)); ld=$LOOPDEV
mount.exfat-fuse -o ro "$ls" "$WORK/ms" >/dev/null 2>&1 && E2E_MOUNTS+=("$WORK/ms")
mount.exfat-fuse -o ro "$ld" "$WORK/md" >/dev/null 2>&1 && E2E_MOUNTS+=("$WORK/md")
python3 "$CMPFS" tree --loose "$WORK/ms" "$WORK/md" >"$WORK/tree.out" 2>&1 &&
	pass "the bare stick's tree is identical ($(head -c 100 "$WORK/tree.out"))" ||
	fail "bare stick tree: $(head -c 300 "$WORK/tree.out")"
umount "$WORK/ms" "$WORK/md"
E2E_MOUNTS=()
loops_detach

fs_dirty_raw "$D" 2 'exfat: the volume is marked dirty'
e2e_finish
