#!/bin/bash
# LVM2 by its logical volumes (partfmt/lvm.c): a GPT partition holding an
# LVM2 physical volume (pvcreate, vgcreate; the LVs written with
# vgcfgrestore, since this kernel has no device-mapper to create them):
# root (XFS), swap, home (ext4), a FAT16 and an ext4 volume of two
# segments each, a thin pool,
# and free extents, everything over stale random bytes.  -dump names what
# each LV was mapped as; the image holds the used blocks of root and home,
# the swap header, the used clusters of the FAT16 through both its
# segments and the thin pool kept whole, not the free extents;
# check.sh runs pvck, compares the label and metadata, and checks every
# LV as the partition it would be (xfs_repair, e2fsck, used blocks, trees).
. "$(dirname "$0")/lib.sh"
e2e_init fs_lvm
for t in pvcreate vgcreate vgcfgbackup vgcfgrestore pvck mkfs.xfs partclone.xfs partclone.extfs; do
	command -v $t >/dev/null || skip "$t is not installed (tools/setup installs lvm2, xfsprogs and partclone)"
done
LVMC=(--config 'devices { use_devicesfile = 0 } backup { backup = 0 archive = 0 }')
MIB=$((1024 * 1024)) EXT=$((4 * MIB))
P1=$MIB N1=$((MIB + 160 * EXT))
D=$WORK/src.img
blank "$D" $((P1 + N1 + MIB))
sgdisk -n1:$((P1 / 512)):$(((P1 + N1) / 512 - 1)) -t1:8e00 "$D" >/dev/null || fatal "sgdisk"
stale_bytes "$D" $P1 $N1 41
part_loop "$D" $P1 $N1
PV=$LOOPDEV
VG=imgtest$$
pvcreate -q "${LVMC[@]}" --devices "$PV" "$PV" 2>&1 | grep -v leaked
vgcreate -q "${LVMC[@]}" --devices "$PV" -s 4m "$VG" "$PV" 2>&1 | grep -v leaked
vgcfgbackup "${LVMC[@]}" --devices "$PV" -f "$WORK/vg.txt" "$VG" >/dev/null 2>&1 || fatal "pvcreate/vgcreate on $PV"
# the LVs: NAME PE COUNT [PE COUNT] (a second segment) or a thin pool
python3 - "$WORK/vg.txt" <<'PY' || fatal "write the LVs"
import sys
lvs = [("root", [(0, 80)]), ("swap", [(80, 8)]), ("home", [(96, 24)]),
       ("data", [(120, 4), (130, 4)]), ("pool_tmeta", [(140, 1)]), ("pool_tdata", [(141, 8)]),
       ("var", [(149, 4), (155, 4)])]
out = []
for i, (name, segs) in enumerate(lvs):
    hidden = name.startswith("pool_")
    out.append('%s {\nid = "imgtst-0000-0000-0000-0000-0000-%06d"\nstatus = ["READ", "WRITE"%s]\n'
               'flags = []\nsegment_count = %d\n' % (name, i, "" if hidden else ', "VISIBLE"', len(segs)))
    at = 0
    for k, (pe, n) in enumerate(segs):
        out.append('segment%d {\nstart_extent = %d\nextent_count = %d\ntype = "striped"\n'
                   'stripe_count = 1\nstripes = ["pv0", %d]\n}\n' % (k + 1, at, n, pe))
        at += n
    out.append("}\n")
out.append('pool {\nid = "imgtst-0000-0000-0000-0000-0000-000099"\nstatus = ["READ", "WRITE", "VISIBLE"]\n'
           'flags = []\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 8\n'
           'type = "thin-pool"\nmetadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = 0\n'
           'chunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1\n}\n}\n')
p = sys.argv[1]
s = open(p).read()
i = s.rindex("}")
open(p, "w").write(s[:i] + "logical_volumes {\n" + "".join(out) + "}\n}\n")
PY
vgcfgrestore "${LVMC[@]}" --devices "$PV" --force -f "$WORK/vg.txt" "$VG" >"$WORK/restore.out" 2>&1 ||
	{ sed 's/^/#   /' "$WORK/restore.out"; fatal "vgcfgrestore"; }
lvs "${LVMC[@]}" --devices "$PV" -a --segments -o lv_name,segtype,seg_pe_ranges 2>/dev/null | sed 's/^/#   /'
PE=$(pvs "${LVMC[@]}" --devices "$PV" --noheadings --units b --nosuffix -o pe_start "$PV" 2>/dev/null | tr -d ' ')
[ -n "$PE" ] || fatal "pvs cannot read the PV"
losetup -d "$PV"
E2E_LOOPS=()
lv_loop() { part_loop "$D" $((P1 + PE + $1 * EXT)) $(($2 * EXT)); }
lv_loop 0 80
mkfs.xfs -q -f -K -L root "$LOOPDEV" || fatal "mkfs.xfs in root"
mkdir -p "$WORK/m"
mount -t xfs "$LOOPDEV" "$WORK/m" || fatal "mount root"
E2E_MOUNTS+=("$WORK/m")
python3 "$FIXTURES/gentree.py" posix "$WORK/m" --files 1500 --big $((24 * MIB)) --seed 42 || fatal "fill root"
umount "$WORK/m" && E2E_MOUNTS=()
ROOT_USED=$(pc_used_dev xfs "$LOOPDEV")
lv_loop 80 8
mkswap -L swap "$LOOPDEV" >/dev/null || fatal "mkswap in swap"
lv_loop 96 24
mkfs.ext4 -q -F -E nodiscard -L home "$LOOPDEV" || fatal "mkfs.ext4 in home"
mount "$LOOPDEV" "$WORK/m" || fatal "mount home"
E2E_MOUNTS+=("$WORK/m")
python3 "$FIXTURES/gentree.py" ext4 "$WORK/m" --files 800 --big $((8 * MIB)) --seed 43 || fatal "fill home"
umount "$WORK/m" && E2E_MOUNTS=()
HOME_USED=$(pc_used_dev extfs "$LOOPDEV")
# data: a FAT16 of two segments (pe 120-123 and 130-133), made in a file
# and split into them: no device-mapper here to join them
blank "$WORK/data.fs" $((8 * EXT))
mkfs.vfat -F 16 -n DATA "$WORK/data.fs" >/dev/null || fatal "mkfs.vfat for data"
mkdir "$WORK/dtree" && python3 "$FIXTURES/gentree.py" fat "$WORK/dtree" --files 300 --big $((20 * MIB)) \
	--seed 44 && MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$WORK/data.fs" "$WORK/dtree"/* :: || fatal "fill data"
# split FILE PE1 PE2: a volume of 8 extents made in FILE into two segments
split_lv() {
	dd if="$1" of="$D" bs=$MIB count=16 seek=$(((P1 + PE + $2 * EXT) / MIB)) conv=notrunc status=none &&
		dd if="$1" of="$D" bs=$MIB skip=16 count=16 seek=$(((P1 + PE + $3 * EXT) / MIB)) conv=notrunc \
			status=none || fatal "split $1 into its segments"
}
split_lv "$WORK/data.fs" 120 130
# var: an ext4 of two segments (pe 149-152 and 155-158), read by
# libext2fs through pf_read
blank "$WORK/var.fs" $((8 * EXT))
mkfs.ext4 -q -F -L var "$WORK/var.fs" || fatal "mkfs.ext4 for var"
mkdir "$WORK/vm" && mount -o loop "$WORK/var.fs" "$WORK/vm" && E2E_MOUNTS+=("$WORK/vm") || fatal "mount var"
python3 "$FIXTURES/gentree.py" ext4 "$WORK/vm" --files 400 --big $((20 * MIB)) --seed 45 || fatal "fill var"
umount "$WORK/vm" && E2E_MOUNTS=()
split_lv "$WORK/var.fs" 149 155
loops_detach
pass "made an LVM2 PV: root XFS, swap, home ext4, a two-segment volume, a thin pool and free extents over stale bytes"

dump_disk "$D"
line=$(grep -E '^ *1 ' "$WORK/out")
for want in 'LVM2_member' 'used blocks' 'root xfs' 'swap swap' 'home ext4' \
	'data vfat \(2 segments\)' 'var ext4 \(2 segments\)' 'pool kept whole \(thin pool\)'; do
	echo "$line" | grep -Eq -- "$want" && pass "-dump p1 says: $want" || fail "-dump p1 lacks /$want/: $line"
done

run_img -makel "$WORK/a.img" -disk="$D"
expect_rc 0 "capture"
whole=$(((8 + 8 + 1 + 8) * EXT + PE))   # data and var (bounds), the pool's sub-LVs, the PV's head
limit=$((ROOT_USED + HOME_USED + whole + N1 / 20))
isize=$(fsize "$WORK/a.img")
note "image $isize bytes; root used $ROOT_USED, home used $HOME_USED, kept whole $whole; limit $limit"
[ "$isize" -lt "$limit" ] && pass "image ($((isize / MIB)) MiB) < used + kept whole + 5% (free extents left out)" ||
	fail "image $isize bytes, limit $limit"
blank "$WORK/dst.img" "$(fsize "$D")"
run_img -restorel "$WORK/a.img" -disk="$WORK/dst.img"
expect_rc 0 "restore onto a blank disk"
run_check "$D" "$WORK/dst.img"
# the free extents (stale random bytes on SRC) were not captured: zeros on
# the blank target
python3 - "$WORK/dst.img" $((P1 + PE)) $EXT 88-95 124-129 134-139 153-154 159-159 <<'PY' &&
import sys
f = open(sys.argv[1], "rb")
base, ext = int(sys.argv[2]), int(sys.argv[3])
for r in sys.argv[4:]:
    a, b = map(int, r.split("-"))
    f.seek(base + a * ext)
    left = (b - a + 1) * ext
    while left:
        n = min(left, 1 << 20)
        if f.read(n).count(0) != n:
            sys.exit("free extents %s hold data on the target" % r)
        left -= n
PY
	pass "the free extents (23 of 160, stale bytes on the source) were left out" ||
	fail "free extents were captured"
e2e_finish
