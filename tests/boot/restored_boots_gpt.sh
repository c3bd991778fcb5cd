#!/bin/bash
# A restored GPT disk must boot, through GRUB, under BIOS and under UEFI:
# the GPT counterpart of restored_boots.sh.  The source disk has a GPT with
# a 1 MiB BIOS boot partition (GRUB's core.img, no filesystem), an EFI
# System partition (FAT32 with GRUB's removable-media EFI/BOOT/BOOTX64.EFI)
# and an ext4 root holding /boot/grub (the modules of both platforms, one
# grub.cfg), the kernel, the initramfs and some data; GRUB's boot.img is in
# the protective MBR.  It is imaged with img -makel and restored with
# img -restorel onto a blank disk of the same size and onto a larger one
# (the backup GPT moves to the new end).  qemu then boots each restored
# disk with no -kernel, through SeaBIOS (MBR boot.img -> core.img in the
# BIOS boot partition -> grub.cfg on partition 3) and through OVMF (ESP ->
# BOOTX64.EFI -> the ext4 found by its UUID, which comes back with the
# blocks -> the same grub.cfg).  The kernel and initramfs are the imaging
# environment; it runs `img -dump` on the disk it booted from and powers
# off, so the console shows the disk and its three partitions seen from
# inside.  Blank disks of the same size boot nothing under either
# firmware.  Without grub-efi-amd64-bin or OVMF the UEFI half is a
# failure, not a skip: both are in tools/deps.txt.
. "$(dirname "$0")/bootlib.sh"
boot_init restored_boots_gpt grub-install grub-mkimage partx mmd mkfs.vfat mkfs.ext4 sfdisk sgdisk mount umount
GRUB_LIB=${GRUB_LIB:-/usr/lib/grub}
[ -s "$GRUB_LIB/i386-pc/boot.img" ] || fatal "no GRUB for BIOS in $GRUB_LIB/i386-pc (Debian package grub-pc-bin)"
UEFI=1
[ -s "$GRUB_LIB/x86_64-efi/linux.mod" ] || { UEFI=0; fail "no GRUB for UEFI in $GRUB_LIB/x86_64-efi (Debian package grub-efi-amd64-bin): the UEFI boot is not tested"; }
# OVMF as two pflash drives (code read-only, a private copy of the
# variables); the one-file OVMF.fd as -bios when the split files are absent
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
OVMF=${OVMF:-/usr/share/qemu/OVMF.fd}
if [ -s "$OVMF_CODE" ] && [ -s "$OVMF_VARS" ]; then FIRMWARE=pflash
elif [ -s "$OVMF" ]; then FIRMWARE=bios
elif [ $UEFI = 1 ]; then UEFI=0; fail "no OVMF firmware at $OVMF_CODE or $OVMF (Debian package ovmf): the UEFI boot is not tested"
fi

D=$WORK/boot.img
SIZE=$((320 * 1024 * 1024))
BIG=$((448 * 1024 * 1024))
rm -f "$D"
truncate -s $SIZE "$D" || fatal "truncate"
# sectors: BIOS boot 2048-4095 (1 MiB), ESP 4096-135167 (64 MiB, the
# smallest comfortable FAT32), ext4 from 135168 to the end
sfdisk -q "$D" <<EOF || fatal "sfdisk"
label: gpt
start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name="BIOS boot"
start=4096, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"
start=135168, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="imgroot"
EOF

# The disk on a partitioned loop device (lib.sh's losetup_part registers
# it in E2E_LOOPS; e2e_cleanup, which bootlib's exit trap chains to,
# unmounts E2E_MOUNTS and detaches E2E_LOOPS should anything fail).
losetup_part "$D" || fatal "losetup -P $D: no partition devices"
L=$LOOPDEV
for _ in $(seq 50); do [ -b "${L}p3" ] && break; sleep 0.1; done
[ -b "${L}p2" ] && [ -b "${L}p3" ] || fatal "no partition devices ${L}p2, ${L}p3"
mkfs.vfat -F 32 -n IMGESP "${L}p2" >/dev/null || fatal "mkfs.vfat"
mkfs.ext4 -q -L imgroot "${L}p3" || fatal "mkfs.ext4"
UUID=$(blkid -o value -s UUID "${L}p3")
[ -n "$UUID" ] || fatal "no UUID on the ext4 root"
R=$WORK/root
mkdir -p "$R" || fatal "mkdir"
mount "${L}p3" "$R" || fatal "mount the ext4 root"
E2E_MOUNTS+=("$R")
mkdir -p "$R/boot/grub" "$R/etc" "$R/home/lab" || fatal "mkdir in the root"
cp "$BOOT_KERNEL" "$R/boot/vmlinuz" && cp "$BOOT_INITRD" "$R/boot/initrd.img" || fatal "copy the kernel and initramfs"
head -c 3000000 /dev/urandom >"$R/home/lab/data.bin"
echo "restored-boots-gpt" >"$R/etc/hostname"
ln -s ../home/lab/data.bin "$R/etc/data.link"

# GRUB for BIOS: grub-install writes boot.img into the protective MBR,
# core.img into the BIOS boot partition and the modules into /boot/grub.
# It asks `udevadm info --query path` for a partition's sysfs path to
# learn where the partition starts; where udev is not installed (a
# container) a stand-in answers from /sys, as udevadm itself would.
PATH_GRUB=$PATH
if ! command -v udevadm >/dev/null 2>&1; then
	mkdir -p "$WORK/bin"
	cat >"$WORK/bin/udevadm" <<'SH'
#!/bin/sh
# udevadm info --query path --name DEV: DEV's sysfs path, without /sys
[ "$1 $2 $3 $4" = "info --query path --name" ] || exit 1
p=$(readlink -f "/sys/class/block/$(basename "$5")") && [ -d "$p" ] || exit 1
echo "${p#/sys}"
SH
	chmod +x "$WORK/bin/udevadm"
	PATH_GRUB=$WORK/bin:$PATH
fi
MODS="part_gpt ext2 fat normal linux serial echo test search search_fs_uuid"
PATH=$PATH_GRUB grub-install --target=i386-pc --boot-directory="$R/boot" --modules="$MODS" "$L" >"$WORK/grub-pc.out" 2>&1 ||
	{ sed 's/^/#   /' "$WORK/grub-pc.out"; fatal "grub-install --target=i386-pc"; }
# GRUB for UEFI: what grub-install --target=x86_64-efi --removable does,
# done by hand, because grub-install insists on the ESP being mounted
# and this machine's kernel has no vfat: the EFI image (with an early
# config that finds the ext4 root by its UUID) as EFI/BOOT/BOOTX64.EFI on
# the ESP, written with mtools, and the modules beside the BIOS ones.
if [ $UEFI = 1 ]; then
	printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$UUID" >"$WORK/early.cfg"
	grub-mkimage -O x86_64-efi -d "$GRUB_LIB/x86_64-efi" -o "$WORK/BOOTX64.EFI" -c "$WORK/early.cfg" \
		-p /boot/grub $MODS configfile >"$WORK/grub-efi.out" 2>&1 ||
		{ sed 's/^/#   /' "$WORK/grub-efi.out"; fatal "grub-mkimage -O x86_64-efi"; }
	mkdir -p "$R/boot/grub/x86_64-efi" &&
		cp "$GRUB_LIB/x86_64-efi/"*.mod "$GRUB_LIB/x86_64-efi/"*.lst "$R/boot/grub/x86_64-efi/" ||
		fatal "copy the x86_64-efi modules"
	mmd -i "${L}p2" ::/EFI ::/EFI/BOOT && mcopy -i "${L}p2" "$WORK/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI ||
		fatal "write EFI/BOOT/BOOTX64.EFI on the ESP"
fi
# One grub.cfg for both platforms: serial console, no menu; the echo
# shows on the console which GRUB ran.
cat >"$R/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
set default=0
# the EFI linux loader wants a graphics mode to hand over (the kernel
# console is serial anyway); loaded from /boot/grub/x86_64-efi
if [ "\$grub_platform" = efi ]; then insmod efi_gop; fi
menuentry "img" {
	echo "grub: platform \$grub_platform, root \$root, booting the imaging environment"
	linux /boot/vmlinuz console=ttyS0 img=-dump imgafter=poweroff imgdhcp=1
	initrd /boot/initrd.img
}
EOF
# Remounting read-only first: ext4 then writes everything out, empties
# its journal and marks itself clean, even when a process that entered a
# new mount namespace meanwhile (ip netns exec, say) holds a copy of this
# mount, so that umount alone would leave the writes for later.
mount -o remount,ro "$R" && umount "$R" || fatal "umount the ext4 root"
E2E_MOUNTS=()
e2fsck -fn "${L}p3" >"$WORK/fsck.out" 2>&1 || { sed 's/^/#   /' "$WORK/fsck.out"; fatal "e2fsck -fn on the source root"; }
losetup -d "$L" || fatal "losetup -d $L"
E2E_LOOPS=()
sgdisk -v "$D" | grep -q 'No problems found' || fatal "sgdisk -v on the source disk: $(sgdisk -v "$D" | head -3 | tr '\n' ' ')"
cmp -s -n 440 "$D" /dev/zero && fatal "grub-install left no boot code in the protective MBR"
pass "made a GPT disk with GRUB for BIOS (boot.img in the MBR, core.img in the BIOS boot partition)$([ $UEFI = 1 ] && echo " and UEFI (EFI/BOOT/BOOTX64.EFI on the ESP, modules on ext4)"), kernel, initramfs and data on ext4"

run_img -makel "$WORK/boot.imgz" -disk="$D"
expect_rc 0 "capture the GPT disk"
blank "$WORK/restored.img" $SIZE
run_img -restorel "$WORK/boot.imgz" -disk="$WORK/restored.img"
expect_rc 0 "restore it onto a blank disk of the same size"
blank "$WORK/larger.img" $BIG
run_img -restorel "$WORK/boot.imgz" -disk="$WORK/larger.img"
expect_rc 0 "restore it onto a larger blank disk"
for t in restored larger; do
	cmp -s -n 440 "$D" "$WORK/$t.img" && pass "$t: GRUB's boot.img in the MBR restored" || fail "$t: MBR boot code differs"
	[ "$(region_sha "$D" $((2048 * 512)) $((2048 * 512)))" = "$(region_sha "$WORK/$t.img" $((2048 * 512)) $((2048 * 512)))" ] &&
		pass "$t: the BIOS boot partition (core.img) restored byte for byte" || fail "$t: the BIOS boot partition differs"
done
# the backup header sits in the last sector and the primary points at it
last=$(($(fsize "$WORK/larger.img") / 512 - 1))
python3 - "$WORK/larger.img" $last <<'EOF' && pass "larger: the backup GPT header is in its last sector ($last) and the primary points at it" || fail "larger: the backup GPT header is not at the new end"
import struct, sys
f = open(sys.argv[1], "rb"); last = int(sys.argv[2])
f.seek(512); p = f.read(92); f.seek(last * 512); b = f.read(92)
ok = p[:8] == b"EFI PART" and b[:8] == b"EFI PART"
ok = ok and struct.unpack_from("<Q", p, 32)[0] == last and struct.unpack_from("<Q", b, 24)[0] == last
sys.exit(0 if ok else 1)
EOF
run_check "$D" "$WORK/restored.img"
run_check "$D" "$WORK/larger.img"

# boots FIRMWARE DISK LABEL: the restored DISK boots through GRUB into
# img -dump, which sees the GPT disk of DISK's size with its three
# partitions, and powers off
boots() {
	local fw=$1 disk=$2 tag="$1-$3" t0 plat=pc mib
	[ "$fw" = uefi ] && plat=efi
	mib=$(($(fsize "$disk") / 1048576))
	t0=$(now)
	vm_disk "$tag" 150 "$fw" "$disk"
	vm_booted "$tag" "$t0" "the $3 disk booted through $fw and GRUB"
	vm_expect "$tag" "^grub: platform $plat, root hd0,gpt3," "GRUB for $fw read grub.cfg on the ext4 root"
	vm_expect_not "$tag" '^error: ' "GRUB for $fw"
	vm_expect "$tag" "^Disk 1: /dev/vda +$mib\\.0 MiB .*table gpt" "the booted system sees a $mib MiB GPT disk"
	vm_expect "$tag" '^ +1 +2048 .*21686148-6449-6E6F-744E-656564454649' "the booted system sees the BIOS boot partition"
	vm_expect "$tag" '^ +2 +4096 .*C12A7328-F81F-11D2-BA4B-00A0C93EC93B +vfat +IMGESP' "the booted system sees the EFI System partition"
	vm_expect "$tag" '^ +3 +135168 .*0FC63DAF-8483-4772-8E79-3D69D8477DE4 +ext4 +imgroot' "the booted system sees the ext4 root"
	vm_times "$tag"
}
# blank_boots FIRMWARE SECS REGEX: a blank disk of the same size boots
# nothing (the check can fail): within SECS the firmware says so on the
# console (REGEX), and neither GRUB nor a kernel ever started
blank_boots() {
	local tag="$1-blank" said=0
	blank "$WORK/blank.img" $SIZE
	vm_disk "$tag" $(($2 + 10)) "$1" "$WORK/blank.img"
	vm_wait_for "$tag" "$3" "$2" && said=1
	vm_kill "$tag"
	if vm_grep "$tag" 'Linux version|^grub: |Welcome to GRUB'; then fail "[$tag] the blank disk booted something"
	elif [ $said = 1 ]; then pass "[$tag] the blank disk boots nothing through $1 (the check can fail): $(tr -d '\r' <"$WORK/$tag.log" | grep -Eo -- "$3" | head -1)"
	else fail "[$tag] the firmware did not say within $2 s that it found nothing to boot (/$3/)"; fi
}

# Each boot takes some 20 s here (software emulation); the bounds keep
# the worst case (every VM running into its bound) under meson's 900 s.
# With -nographic SeaBIOS writes to the serial console too.
blank_boots bios 60 'No bootable device'
boots bios "$WORK/restored.img" restored
boots bios "$WORK/larger.img" larger
if [ $UEFI = 1 ]; then
	blank_boots uefi 90 'failed to load Boot[0-9A-F]+ "UEFI[^"]*(Misc Device|Disk)[^"]*"[^:]*: Not Found'
	boots uefi "$WORK/restored.img" restored
	boots uefi "$WORK/larger.img" larger
fi
e2e_finish
