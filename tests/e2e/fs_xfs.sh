#!/bin/bash
# XFS by its used blocks (partfmt/xfs.c): a GPT disk with an XFS v5
# (mounted and filled with the posix tree, some of it deleted again) and
# an XFS v4 (filled by mkfs.xfs -p from the same kind of tree; this
# kernel may not mount v4), both over stale random bytes.  Captured with
# -makel, restored onto a blank disk of the same size, a larger one and
# through imgserv; check.sh runs xfs_repair -n, compares the used blocks
# partclone.xfs maps and the v5 file trees.  The image must be smaller
# than the used bytes plus 5% of the partitions.  A v5 with a dirty log
# (shut down with xfs_io) is captured raw, with that reason, and restored
# byte for byte.
. "$(dirname "$0")/lib.sh"
e2e_init fs_xfs
for t in mkfs.xfs xfs_repair xfs_io xfs_db xfs_logprint partclone.xfs; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs xfsprogs and partclone)"
done

MIB=$((1024 * 1024))
P1=$((2 * MIB)) N1=$((340 * MIB)) P2=$((344 * MIB)) N2=$((320 * MIB))
D=$WORK/src.img
blank "$D" $((P2 + N2 + 2 * MIB))
sgdisk -n1:$((P1 / 512)):$(((P1 + N1) / 512 - 1)) -t1:8300 -n2:$((P2 / 512)):$(((P2 + N2) / 512 - 1)) -t2:8300 \
	"$D" >/dev/null || fatal "sgdisk on the source disk"
# stale data in what will be free space: mkfs.xfs -K does not discard it
stale_bytes "$D" $P1 $((N1 + N2 + 2 * MIB)) 7
sgdisk -v "$D" | grep -q 'No problems found' || fatal "sgdisk -v on the source"

part_loop "$D" $P1 $N1
L1=$LOOPDEV
mkfs.xfs -q -f -K -L v5vol "$L1" || fatal "mkfs.xfs (v5)"
mkdir -p "$WORK/m"
mount -t xfs "$L1" "$WORK/m" || fatal "mount the v5 volume"
E2E_MOUNTS+=("$WORK/m")
python3 "$FIXTURES/gentree.py" posix "$WORK/m" --files 2500 --big $((40 * MIB)) --seed 11 ||
	fatal "fill the v5 volume"
mkdir "$WORK/m/gone"
python3 "$FIXTURES/gentree.py" posix "$WORK/m/gone" --files 600 --big $((20 * MIB)) --seed 12 ||
	fatal "fill what will be deleted"
rm -rf "$WORK/m/gone" "$WORK/m/data/d001"
umount "$WORK/m" || fatal "umount the v5 volume"
E2E_MOUNTS=()

mkdir "$WORK/stage"
python3 "$FIXTURES/gentree.py" posix "$WORK/stage" --files 1500 --big $((24 * MIB)) --seed 13 ||
	fatal "stage the v4 tree"
python3 "$FIXTURES/xfsproto.py" "$WORK/stage" >"$WORK/proto" || fatal "prototype file"
part_loop "$D" $P2 $N2
L2=$LOOPDEV
mkfs.xfs -q -f -K -m crc=0 -L v4vol -p "$WORK/proto" "$L2" 2>"$WORK/mkfs.err" ||
	{ sed 's/^/#   /' "$WORK/mkfs.err"; fatal "mkfs.xfs -m crc=0 -p (v4)"; }
for l in "$L1" "$L2"; do
	xfs_repair -n "$l" >"$WORK/repair.out" 2>&1 ||
		{ sed 's/^/#   /' "$WORK/repair.out"; fatal "xfs_repair -n on the source $l"; }
done
xfs_db -r -c version "$L2" | grep -q '= V4,' || fatal "the second volume is not XFS v4"
xfs_db -r -c version "$L1" | grep -q '= V5,' || fatal "the first volume is not XFS v5"
loops_detach
pass "made a GPT disk with an XFS v5 (filled, partly deleted) and an XFS v4 (mkfs.xfs -p) over stale bytes"

fs_roundtrip xfs "$D" $((N1 + N2)) 1 2

mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
run_img -makep "127.0.0.1:$SRV_PORT" lab/xfs.img -key="$WORK/key" -disk="$D"
expect_rc 0 "capture through imgserv"
blank "$WORK/net.img" "$(fsize "$D")"
run_img -restorep "127.0.0.1:$SRV_PORT" lab/xfs.img -disk="$WORK/net.img"
expect_rc 0 "restore through imgserv"
run_check "$D" "$WORK/net.img" --only 1 --only 2

# a dirty log: raw, with the reason, restored byte for byte
part_loop "$D" $P1 $N1
mount -t xfs "$LOOPDEV" "$WORK/m" || fatal "mount the v5 volume again"
E2E_MOUNTS+=("$WORK/m")
mkdir "$WORK/m/after" && echo new >"$WORK/m/after/file" || fatal "write after mount"
xfs_io -x -c "shutdown -f" "$WORK/m" || fatal "xfs_io shutdown"
umount "$WORK/m"
E2E_MOUNTS=()
xfs_logprint -t "$LOOPDEV" 2>/dev/null | grep -q 'state: <DIRTY>' || fatal "the log is not dirty after the shutdown"
losetup -d "$LOOPDEV"
E2E_LOOPS=()
fs_dirty_raw "$D" 1 'xfs: the log is dirty'
e2e_finish
