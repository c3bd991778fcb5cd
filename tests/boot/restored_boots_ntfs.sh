#!/bin/bash
# A restored disk laid out the way Windows lays out a BIOS install must
# boot (issue 2): an MBR whose boot code loads the active partition's
# volume boot record, an active NTFS partition ("System Reserved") whose
# boot record loads the boot loader and whose files hold the loader's
# configuration, modules, the kernel and the initramfs, and a second NTFS
# partition with data.  No Windows media is to be had here, so free boot
# code takes each role in the same chain:
#   BIOS -> MBR: syslinux's mbr.bin, which, like Windows' MBR code, loads
#           the first sector of the active partition
#        -> NTFS boot sector: GRUB's boot.img written around the NTFS BPB
#           (which stays as mkntfs wrote it), pointing at core.img
#        -> core.img in the gap before the first partition (GRUB with its
#           NTFS driver built in)
#        -> /boot/grub/grub.cfg, the kernel and the initramfs, files on
#           the NTFS volume, read through its MFT and runs
# so the MBR code, the active flag, the NTFS boot sector with its BPB, the
# boot gap and every cluster of those files must come back byte for byte.
# The disk is imaged with img -makel and restored with img -restorel onto
# a blank disk of the same size and onto a larger one; qemu boots each
# through SeaBIOS with no -kernel.  The kernel and initramfs are the
# imaging environment; it runs `img -dump` on the disk it booted from and
# powers off.  A blank disk of the same size boots nothing.
. "$(dirname "$0")/bootlib.sh"
boot_init restored_boots_ntfs grub-mkimage mkntfs ntfs-3g ntfsfix sfdisk mount umount
GRUB_LIB=${GRUB_LIB:-/usr/lib/grub}
MBR=/usr/lib/syslinux/mbr/mbr.bin
[ -s "$GRUB_LIB/i386-pc/boot.img" ] || fatal "no GRUB for BIOS in $GRUB_LIB/i386-pc (Debian package grub-pc-bin)"
[ -s "$MBR" ] || fatal "no syslinux MBR boot code at $MBR (Debian package syslinux-common)"

D=$WORK/boot.img
SIZE=$((256 * 1024 * 1024))
BIG=$((384 * 1024 * 1024))
P1=2048                             # "System Reserved": 96 MiB, active
P1N=196608
P2=$((P1 + P1N))                    # data NTFS to the end
rm -f "$D"
truncate -s $SIZE "$D" || fatal "truncate"
sfdisk -q "$D" <<EOF || fatal "sfdisk"
label: dos
start=$P1, size=$P1N, type=7, bootable
start=$P2, type=7
EOF
dd if="$MBR" of="$D" bs=440 count=1 conv=notrunc status=none || fatal "MBR boot code"

losetup_part "$D" || fatal "losetup -P $D: no partition devices"
L=$LOOPDEV
for _ in $(seq 50); do [ -b "${L}p2" ] && break; sleep 0.1; done
[ -b "${L}p1" ] && [ -b "${L}p2" ] || fatal "no partition devices ${L}p1, ${L}p2"
# -p: the partition's start in the BPB's hidden-sectors field, as Windows
# setup writes it; -H/-S: a geometry the BIOS reports for such a disk
mkntfs -q -f -L SYSRESERVED -p $P1 -H 255 -S 63 "${L}p1" || fatal "mkntfs on partition 1"
mkntfs -q -f -L WINDOWS -p $P2 -H 255 -S 63 "${L}p2" || fatal "mkntfs on partition 2"
R=$WORK/sys
W=$WORK/win
mkdir -p "$R" "$W" || fatal "mkdir"
ntfs-3g "${L}p1" "$R" || fatal "ntfs-3g mount of partition 1"
E2E_MOUNTS+=("$R")
ntfs-3g "${L}p2" "$W" || fatal "ntfs-3g mount of partition 2"
E2E_MOUNTS+=("$W")
mkdir -p "$R/boot/grub/i386-pc" "$W/Users/lab/Documents" "$W/Program Files/Lab Tools" || fatal "mkdir on NTFS"
cp "$BOOT_KERNEL" "$R/boot/vmlinuz" && cp "$BOOT_INITRD" "$R/boot/initrd.img" || fatal "copy the kernel and initramfs"
cp "$GRUB_LIB/i386-pc/"*.mod "$GRUB_LIB/i386-pc/"*.lst "$R/boot/grub/i386-pc/" || fatal "copy GRUB's modules"
cat >"$R/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0
menuentry "img" {
	echo "grub: platform \$grub_platform, root \$root, booting the imaging environment"
	linux /boot/vmlinuz console=ttyS0 img=-dump imgafter=poweroff imgdhcp=1
	initrd /boot/initrd.img
}
EOF
head -c 3000000 /dev/urandom >"$W/Users/lab/Documents/data.bin"
for i in $(seq 200); do echo "lab file $i" >"$W/Program Files/Lab Tools/tool-$i.txt"; done
umount "$R" && umount "$W" || fatal "umount the NTFS volumes"
E2E_MOUNTS=()
for p in 1 2; do
	ntfsfix -n "${L}p$p" >"$WORK/ntfsfix.out" 2>&1 || { sed 's/^/#   /' "$WORK/ntfsfix.out"; fatal "ntfsfix -n on source partition $p"; }
done
losetup -d "$L" || fatal "losetup -d $L"
E2E_LOOPS=()

# core.img: GRUB for BIOS with the msdos label and NTFS built in, its
# prefix on partition 1, placed at LBA 1 in the gap (the sector boot.img
# loads by default; the blocklist grub-mkimage writes into core.img's
# first sector covers the rest of it from LBA 2).
grub-mkimage -O i386-pc -d "$GRUB_LIB/i386-pc" -o "$WORK/core.img" -p '(hd0,msdos1)/boot/grub' \
	biosdisk part_msdos ntfs normal linux serial echo test configfile >"$WORK/mkimage.out" 2>&1 ||
	{ sed 's/^/#   /' "$WORK/mkimage.out"; fatal "grub-mkimage -O i386-pc"; }
[ $(($(fsize "$WORK/core.img") + 512)) -le $((P1 * 512)) ] || fatal "core.img ($(fsize "$WORK/core.img") bytes) does not fit the gap"
dd if="$WORK/core.img" of="$D" bs=512 seek=1 conv=notrunc status=none || fatal "place core.img"
CORE=$(fsize "$WORK/core.img")
# boot.img into the NTFS boot sector: its jump (bytes 0-2) and its code
# from byte 0x5a on; the OEM name and BPB between (0x03-0x59) stay
# NTFS's.  Its kernel-sector field (0x5c) still says LBA 1.  The backup
# boot sector, in the partition's last sector, gets the same bytes, as
# Windows keeps it (ntfsfix compares the two).
S1=$((P1 * 512))
S1B=$(((P1 + P1N - 1) * 512))
python3 - "$GRUB_LIB/i386-pc/boot.img" "$D" $S1 $S1B <<'EOF' || fatal "write boot.img into the NTFS boot sectors"
import struct, sys
b = open(sys.argv[1], "rb").read(512)
with open(sys.argv[2], "r+b") as f:
    f.seek(int(sys.argv[3])); v = bytearray(f.read(512))
    f.seek(int(sys.argv[4])); bk = f.read(512)
    if v[3:11] != b"NTFS    " or bk != v or struct.unpack_from("<Q", b, 0x5c)[0] != 1:
        sys.exit(1)
    v[0:3] = b[0:3]; v[0x5a:510] = b[0x5a:510]
    for at in sys.argv[3:5]:
        f.seek(int(at)); f.write(v)
EOF
losetup_part "$D" || fatal "losetup -P $D"
L=$LOOPDEV
for _ in $(seq 50); do [ -b "${L}p1" ] && break; sleep 0.1; done
ntfsfix -n "${L}p1" >"$WORK/ntfsfix.out" 2>&1 || { sed 's/^/#   /' "$WORK/ntfsfix.out"; fatal "ntfsfix -n on partition 1 after boot.img went into its boot sector"; }
losetup -d "$L"
E2E_LOOPS=()
pass "made a Windows-style BIOS disk: MBR code that loads the active VBR, an active NTFS whose boot sector holds GRUB's boot.img around the BPB, core.img in the gap, loader, kernel and initramfs as NTFS files, a data NTFS"

run_img -makel "$WORK/boot.imgz" -disk="$D"
expect_rc 0 "capture the disk"
run_img -imginfo "$WORK/boot.imgz"
grep -Eq '^ +1 .*ntfs' "$WORK/out" && grep -Eq '^ +2 .*ntfs' "$WORK/out" &&
	pass "both NTFS partitions were captured by their used clusters" ||
	{ sed 's/^/#   /' "$WORK/out"; fail "img -imginfo does not show both partitions as ntfs"; }
blank "$WORK/restored.img" $SIZE
run_img -restorel "$WORK/boot.imgz" -disk="$WORK/restored.img"
expect_rc 0 "restore it onto a blank disk of the same size"
blank "$WORK/larger.img" $BIG
run_img -restorel "$WORK/boot.imgz" -disk="$WORK/larger.img"
expect_rc 0 "restore it onto a larger blank disk"
for t in restored larger; do
	cmp -s -n 440 "$D" "$WORK/$t.img" && pass "$t: the MBR boot code restored" || fail "$t: the MBR boot code differs"
	# core.img's sectors of the gap (check.sh compares the rest of it, but
	# for the image-safe data area near its end, which stays the target's)
	[ "$(region_sha "$D" 512 "$CORE")" = "$(region_sha "$WORK/$t.img" 512 "$CORE")" ] &&
		pass "$t: core.img in the gap restored byte for byte" || fail "$t: core.img in the gap differs"
	[ "$(region_sha "$D" $S1 512)" = "$(region_sha "$WORK/$t.img" $S1 512)" ] &&
		pass "$t: the NTFS boot sector (boot.img around the BPB) restored byte for byte" || fail "$t: the NTFS boot sector differs"
	[ "$(region_sha "$D" $S1B 512)" = "$(region_sha "$WORK/$t.img" $S1B 512)" ] &&
		pass "$t: the NTFS backup boot sector (the partition's last sector) restored byte for byte" || fail "$t: the NTFS backup boot sector differs"
	python3 - "$WORK/$t.img" <<'EOF' && pass "$t: partition 1 is still the active one" || fail "$t: partition 1 lost its active flag"
import sys
f = open(sys.argv[1], "rb"); m = f.read(512)
sys.exit(0 if m[446] == 0x80 and m[462] == 0 and m[510:512] == b"\x55\xaa" else 1)
EOF
done
run_check "$D" "$WORK/restored.img"
run_check "$D" "$WORK/larger.img"

# boots DISK LABEL: the restored DISK boots through SeaBIOS, the MBR code,
# the NTFS boot sector, core.img and GRUB's NTFS driver into img -dump,
# which sees both NTFS partitions, and powers off
boots() {
	local disk=$1 tag=$2 t0 mib
	mib=$(($(fsize "$disk") / 1048576))
	t0=$(now)
	vm_disk "$tag" 150 bios "$disk"
	vm_booted "$tag" "$t0" "the $tag disk booted through the MBR, the NTFS boot sector and GRUB"
	vm_expect "$tag" '^grub: platform pc, root hd0,msdos1,' "GRUB read grub.cfg from the active NTFS partition"
	vm_expect_not "$tag" '^error: ' "GRUB"
	vm_expect "$tag" "^Disk 1: /dev/vda +$mib\\.0 MiB .*table msdos" "the booted system sees a $mib MiB MBR disk"
	vm_expect "$tag" "^ +1 +$P1 .*ntfs +SYSRESERVED" "the booted system sees the active NTFS partition"
	vm_expect "$tag" "^ +2 +$P2 .*ntfs +WINDOWS" "the booted system sees the data NTFS partition"
	vm_times "$tag"
}
tag=blank
blank "$WORK/blank.img" $SIZE
vm_disk $tag 70 bios "$WORK/blank.img"
said=0
vm_wait_for $tag 'No bootable device' 60 && said=1
vm_kill $tag
if vm_grep $tag 'Linux version|^grub: |GRUB'; then fail "[blank] the blank disk booted something"
elif [ $said = 1 ]; then pass "[blank] the blank disk boots nothing (the check can fail): SeaBIOS says 'No bootable device'"
else fail "[blank] SeaBIOS did not say within 60 s that it found nothing to boot"; fi
boots "$WORK/restored.img" restored
boots "$WORK/larger.img" larger
e2e_finish
