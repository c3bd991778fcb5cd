#!/bin/bash
# btrfs by its used blocks (partfmt/btrfs.c): a GPT disk with a btrfs made
# by mkfs.btrfs (metadata DUP: two copies of every tree block on the one
# device), filled with the posix tree at the top level, a subvolume with
# its own tree (zstd-compressed), a snapshot of it, the subvolume changed
# after the snapshot and part of everything deleted, over stale random
# bytes.  Captured with -makel, restored onto a blank disk of the same
# size and a larger one; check.sh runs btrfs check --readonly, compares
# the used blocks btrfs-progs lists (tests/fixtures/btrfs_used.py) and the whole tree (subvolumes and
# snapshot included).  The image must be smaller than the used bytes plus
# 5% of the partition.
. "$(dirname "$0")/lib.sh"
e2e_init fs_btrfs
for t in mkfs.btrfs btrfs; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs btrfs-progs and partclone)"
done
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null
grep -qw btrfs /proc/filesystems || skip "this kernel has no btrfs (the trees cannot be mounted)"

MIB=$((1024 * 1024))
P1=$((1 * MIB)) N1=$((420 * MIB))
D=$WORK/src.img
blank "$D" $((P1 + N1 + MIB))
sgdisk -n1:$((P1 / 512)):$(((P1 + N1) / 512 - 1)) -t1:8300 "$D" >/dev/null || fatal "sgdisk"
stale_bytes "$D" $P1 $N1 9
part_loop "$D" $P1 $N1
mkfs.btrfs -q -f -L labroot "$LOOPDEV" >/dev/null 2>&1 || fatal "mkfs.btrfs"
M=$WORK/m
mkdir -p "$M"
mount -t btrfs "$LOOPDEV" "$M" || fatal "mount the btrfs"
E2E_MOUNTS+=("$M")
python3 "$FIXTURES/gentree.py" posix "$M" --files 1500 --big $((24 * MIB)) --seed 31 || fatal "fill the top level"
btrfs subvolume create "$M/home" >/dev/null || fatal "btrfs subvolume create"
btrfs property set "$M/home" compression zstd || fatal "compression on the subvolume"
python3 "$FIXTURES/gentree.py" posix "$M/home" --files 1200 --big $((16 * MIB)) --seed 32 ||
	fatal "fill the subvolume"
btrfs subvolume snapshot "$M/home" "$M/home-snap" >/dev/null || fatal "btrfs subvolume snapshot"
rm -rf "$M/home/data/d005" "$M/data/d003"
python3 "$FIXTURES/gentree.py" posix "$M/home/after" --files 300 --big $((4 * MIB)) --seed 33 ||
	fatal "change the subvolume after the snapshot"
mkdir "$M/gone" && python3 "$FIXTURES/gentree.py" posix "$M/gone" --files 400 --big $((16 * MIB)) --seed 34 ||
	fatal "fill what will be deleted"
sync
rm -rf "$M/gone"
umount "$M" || fatal "umount the btrfs"
E2E_MOUNTS=()
btrfs check --readonly "$LOOPDEV" >"$WORK/bc.out" 2>&1 || { sed 's/^/#   /' "$WORK/bc.out"; fatal "btrfs check on the source"; }
btrfs inspect-internal dump-super "$LOOPDEV" | grep -Eq '^log_root[[:space:]]+0$' || fatal "the source has a log tree"
losetup -d "$LOOPDEV"
E2E_LOOPS=()
pass "made a GPT disk with a btrfs: top level, a compressed subvolume, its snapshot, changes after it, deletions"

fs_roundtrip btrfs "$D" $N1 1
e2e_finish
