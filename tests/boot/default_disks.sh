#!/bin/bash
# default_disks: which disks img takes without -disk= (issue 2: "every
# fixed disk the machine has ... no loop, ram, zram, optical, or removable
# media"), on a machine with one of each kind.  qemu boots the generic
# imaging environment (the flavour for real hardware: AHCI and USB
# drivers) with a virtio disk, a SATA disk on AHCI, a USB stick (removable)
# and a USB hard disk (which, like real ones, says it is not removable);
# each disk has its own size.  img -dump on that machine must list the
# virtio and the SATA disk and neither USB disk; img -dump -disk= of the
# USB hard disk must still read it.
BOOT_FLAVOUR=generic
. "$(dirname "$0")/bootlib.sh"
boot_init default_disks sfdisk

mib() { blank "$WORK/$1.img" $(($2 * 1024 * 1024)); printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$WORK/$1.img" || fatal "sfdisk $1"; }
mib virtio 64
mib sata 48
mib stick 40
mib usbhdd 56
# vm_disks TAG IMGARGS: the environment runs img IMGARGS with the four disks
vm_disks() {
	note "[$1] qemu: virtio 64 MiB, SATA (AHCI) 48 MiB, USB stick 40 MiB, USB hard disk 56 MiB; img $2"
	vm_qemu "$1" 240 -kernel "$BOOT_KERNEL" -initrd "$BOOT_INITRD" \
		-append "console=ttyS0 img=\"$2\" imgafter=poweroff imgdhcp=1" \
		-netdev user,id=n0,net=198.18.0.0/24 -device virtio-net-pci,netdev=n0 \
		-drive "file=$WORK/virtio.img,format=raw,if=virtio,cache=unsafe" \
		-device ahci,id=ahci -drive "file=$WORK/sata.img,format=raw,if=none,id=sata,cache=unsafe" \
		-device ide-hd,drive=sata,bus=ahci.0 \
		-device qemu-xhci,id=xhci \
		-drive "file=$WORK/stick.img,format=raw,if=none,id=stick,cache=unsafe" \
		-device usb-storage,bus=xhci.0,drive=stick,removable=on \
		-drive "file=$WORK/usbhdd.img,format=raw,if=none,id=usbhdd,cache=unsafe" \
		-device usb-storage,bus=xhci.0,drive=usbhdd
	vm_wait "$1"
	[ "$RC" = 0 ] && pass "[$1] the VM powered off by itself" || fail "[$1] qemu exit $RC (124: killed by its bound)"
	vm_expect "$1" '^init: img finished with exit status 0' "[$1] img exited 0"
}
vm_disks dump -dump
vm_expect dump '^Disk [0-9]+: /dev/vda +64\.0 MiB' "[dump] the virtio disk is imaged"
vm_expect dump '^Disk [0-9]+: /dev/sd[a-z] +48\.0 MiB' "[dump] the SATA disk is imaged"
vm_expect_not dump '^Disk [0-9]+: .* 40\.0 MiB' "[dump] the USB stick (removable) is left out"
vm_expect_not dump '^Disk [0-9]+: .* 56\.0 MiB' "[dump] the USB hard disk (not removable, on USB) is left out"
# init listed all four block devices before img ran (it waits for USB
# storage, which attaches a disk a second after it finds it): else
# leaving the USB ones out would prove nothing
vm_expect dump '^init: block devices: .*\(64 MiB\)' "[dump] init saw the virtio disk"
for d in 48 40 56; do
	vm_expect dump "^init: block devices: .*sd[a-z]\\($d MiB\\)" "[dump] init saw the $d MiB disk before img ran"
done
n=$(tr -d '\r' <"$WORK/dump.log" | grep -cE '^Disk [0-9]+: ')
[ "$n" = 2 ] && pass "[dump] img lists two disks" || fail "[dump] img lists $n disks, expected 2"
# the USB disks' names, by their sizes on init's list (probe order decides
# which sd letter each gets)
usbdev() { tr -d '\r' <"$WORK/dump.log" | sed -n 's/^init: block devices:.* \(sd[a-z]*\)('"$1"' MiB).*/\1/p' | head -1; }
stick=$(usbdev 40) hdd=$(usbdev 56)
[ -n "$stick" ] && [ -n "$hdd" ] || fatal "no names for the USB disks on init's list"
vm_disks usbdump "-dump -disk=/dev/$hdd -disk=/dev/$stick"
vm_expect usbdump "^Disk [0-9]+: /dev/$hdd +56\\.0 MiB" "[usbdump] -disk= still reads the USB hard disk ($hdd)"
vm_expect usbdump "^Disk [0-9]+: /dev/$stick +40\\.0 MiB" "[usbdump] -disk= still reads the USB stick ($stick)"
e2e_finish
