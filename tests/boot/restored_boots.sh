#!/bin/bash
# A restored disk must boot (issue 2): a BIOS-bootable MBR disk (syslinux's
# boot code in the MBR, an active FAT32 partition holding syslinux, a
# Linux kernel and initramfs; an ext4 data partition) is imaged with
# img -makel and restored with img -restorel onto a blank disk file; qemu
# then boots the restored disk through its BIOS with no -kernel: the boot
# code, the active flag, the boot sector and the files must all have come
# back for the kernel to start.  The kernel and initramfs are the imaging
# environment; it runs `img -dump` on the disk it booted from and powers
# off, so the console shows both partitions seen from inside.
. "$(dirname "$0")/bootlib.sh"
boot_init restored_boots syslinux mcopy mkfs.vfat mkfs.ext4 sfdisk
MBR=/usr/lib/syslinux/mbr/mbr.bin
[ -s "$MBR" ] || fatal "no syslinux MBR boot code at $MBR (Debian package syslinux-common)"

D=$WORK/boot.img
P1=$((1024 * 1024))                 # FAT32 at 1 MiB, 64 MiB
P1S=$((64 * 1024 * 1024))
rm -f "$D"
truncate -s 192M "$D" || fatal "truncate"
sfdisk -q "$D" <<EOF || fatal "sfdisk"
label: dos
start=2048, size=131072, type=c, bootable
start=133120, type=83
EOF
dd if="$MBR" of="$D" bs=440 count=1 conv=notrunc status=none || fatal "MBR boot code"
# FAT32 in a file, then placed at its offset (mkfs.vfat --offset writes in
# place too, but a file keeps the mtools calls simple)
F=$WORK/p1.img
truncate -s $P1S "$F"
mkfs.vfat -F 32 -n IMGBOOT "$F" >/dev/null || fatal "mkfs.vfat"
export MTOOLS_SKIP_CHECK=1
cat >"$WORK/syslinux.cfg" <<EOF
DEFAULT img
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL img
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0 img=-dump imgafter=poweroff imgdhcp=1
EOF
mcopy -i "$F" "$BOOT_KERNEL" ::/vmlinuz && mcopy -i "$F" "$BOOT_INITRD" ::/initrd.img &&
	mcopy -i "$F" "$WORK/syslinux.cfg" ::/syslinux.cfg || fatal "mcopy"
syslinux --install "$F" || fatal "syslinux --install"
dd if="$F" of="$D" bs=1M seek=1 conv=notrunc,sparse status=none || fatal "place the FAT32 partition"
# ext4 data partition with files
E=$WORK/p2.img
truncate -s $((192 * 1024 * 1024 - 133120 * 512)) "$E"
mkdir -p "$WORK/tree/etc" "$WORK/tree/home/lab"
head -c 3000000 /dev/urandom >"$WORK/tree/home/lab/data.bin"
echo "restored-boots" >"$WORK/tree/etc/hostname"
mkfs.ext4 -q -L imgdata -d "$WORK/tree" "$E" || fatal "mkfs.ext4"
dd if="$E" of="$D" bs=512 seek=133120 conv=notrunc,sparse status=none || fatal "place the ext4 partition"
rm -f "$F" "$E"
pass "made a BIOS-bootable MBR disk: syslinux MBR code, active FAT32 with kernel and initramfs, ext4"

run_img -makel "$WORK/boot.imgz" -disk="$D"
expect_rc 0 "capture the bootable disk"
blank "$WORK/restored.img" "$(fsize "$D")"
run_img -restorel "$WORK/boot.imgz" -disk="$WORK/restored.img"
expect_rc 0 "restore it onto a blank disk"
cmp -s -n 440 "$D" "$WORK/restored.img" && pass "MBR boot code restored" || fail "MBR boot code differs"
run_check "$D" "$WORK/restored.img"

# The blank disk does not boot (the test can tell), the restored one does.
blank "$WORK/blank.img" "$(fsize "$D")"
for t in blank restored; do
	: >"$WORK/$t.log"
	t0=$(now)
	timeout -k 5 240 "$QEMU" -m 512 -smp 1 -display none -monitor none -no-reboot \
		-serial "file:$WORK/$t.log" -boot c \
		-drive "file=$WORK/$t.img,format=raw,if=virtio,cache=unsafe" \
		-netdev user,id=n0,net=198.18.0.0/24 -device virtio-net-pci,netdev=n0 \
		</dev/null >"$WORK/$t.qemu" 2>&1 &
	VM_PID[$t]=$!
	VM_T0[$t]=$t0
	if [ $t = blank ]; then
		# BIOS finds no boot code: nothing ever reaches the serial console
		sleep 12
		vm_kill blank
		vm_grep blank 'Linux version' && fail "the blank disk booted a kernel" ||
			pass "the blank disk boots nothing (the check can fail)"
		continue
	fi
	if vm_wait_for restored 'init: img finished' 200; then
		pass "the restored disk booted through BIOS, MBR and syslinux into the kernel after $(since "$t0") s"
	else
		fail "the restored disk did not boot within 200 s"
	fi
	vm_wait restored
	vm_expect restored 'Linux version' "kernel started from the restored disk"
	vm_expect restored 'init: img finished with exit status 0' "img -dump ran on the booted system"
	vm_expect restored 'vfat .*IMGBOOT|IMGBOOT' "the booted system sees the FAT32 boot partition"
	vm_expect restored 'ext4 .*imgdata|imgdata' "the booted system sees the ext4 partition"
	vm_times restored
done
e2e_finish
