#!/bin/bash
# bootlib.sh - shared setup for the boot tests: qemu (software emulation
# is fine) boots the imaging environment of initramfs/mkimage, built once
# and cached.  Source it, then call boot_init NAME.  It sources
# tests/e2e/lib.sh: fixtures, check.sh, the imgserv helpers, pass/fail.
#
# Environment (besides lib.sh's IMG, IMGSERV, FIXDIR, FIXCACHE, KEEP):
#   MKIMAGE    initramfs/mkimage (default: in this source tree)
#   BOOTCACHE  where the built environment is cached (default
#              $FIXDIR/initramfs), keyed by the checksum of mkimage, init
#              and the img binary
#   BOOT_FLAVOUR  mkimage flavour for the tests (default small)
#   QEMU       qemu-system-x86_64
#
# Networking: qemu user networking on 198.18.0.0/24 only; the guest is
# 198.18.0.15 and reaches the host's loopback services (imgserv started
# by srv_start on 127.0.0.1) through 198.18.0.2.
BOOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../e2e/lib.sh
. "$BOOT_DIR/../e2e/lib.sh"
MKIMAGE=${MKIMAGE:-$(cd "$BOOT_DIR/../../initramfs" && pwd)/mkimage}
BOOTCACHE=${BOOTCACHE:-$FIXDIR/initramfs}
BOOT_FLAVOUR=${BOOT_FLAVOUR:-small}
QEMU=${QEMU:-qemu-system-x86_64}
BOOT_HOST=198.18.0.2          # the host, as the guest sees it
declare -A VM_PID=() VM_T0=() VM_RCS=()

boot_exit() {
	local rc=$? t
	for t in "${!VM_PID[@]}"; do kill "${VM_PID[$t]}" 2>/dev/null; done
	for t in "${!VM_PID[@]}"; do wait "${VM_PID[$t]}" 2>/dev/null; done
	(exit $rc)
	e2e_cleanup
}

# boot_init NAME [extra tools...]
boot_init() {
	command -v "$QEMU" >/dev/null 2>&1 || skip "no $QEMU (Debian package qemu-system-x86)"
	e2e_init "$@" timeout cpio zstd
	trap boot_exit EXIT
	boot_slot
	[ -x "$IMGSERV" ] || fatal "no imgserv binary at $IMGSERV"
	[ -x "$MKIMAGE" ] || fatal "no executable mkimage at $MKIMAGE"
	boot_image
}

# boot_slot: waits until fewer than BOOT_VMS boot tests run (default: one
# per two cores).  The boot tests run in parallel with the others, but
# qemu's software emulation is CPU-bound: more VMs than cores only slow
# each one past the deadlines its test waits with.  The slot is a lock
# held by this test's processes until they end.
boot_slot() {
	local n=${BOOT_VMS:-$(($(nproc) / 2))} i
	[ "$n" -ge 1 ] || n=1
	mkdir -p "$BOOTCACHE" || fatal "cannot create $BOOTCACHE"
	while :; do
		for i in $(seq "$n"); do
			exec {BOOT_SLOT_FD}>"$BOOTCACHE/.vm-slot$i"
			flock -n "$BOOT_SLOT_FD" && { note "VM slot $i of $n"; return 0; }
			exec {BOOT_SLOT_FD}>&-
		done
		sleep 1
	done
}

# boot_image: sets BOOT_KERNEL and BOOT_INITRD, the imaging environment
# with $IMG, built with mkimage on first use and cached under BOOTCACHE.
boot_image() {
	local key d rc
	key=$(cat "$MKIMAGE" "$(dirname "$MKIMAGE")/init" "$IMG" | sha256sum | cut -c1-16)
	d=$BOOTCACHE/$BOOT_FLAVOUR-$key
	mkdir -p "$BOOTCACHE" || fatal "cannot create $BOOTCACHE"
	(
		flock 9
		if [ ! -f "$d/initrd.img" ] || [ ! -f "$d/vmlinuz" ]; then
			rm -rf "$BOOTCACHE/$BOOT_FLAVOUR-"*   # older versions
			t0=$SECONDS
			"$MKIMAGE" "$d.tmp" -flavour "$BOOT_FLAVOUR" -img "$IMG" >"$BOOTCACHE/mkimage.log" 2>&1
			rc=$?
			sed 's/^/#   /' "$BOOTCACHE/mkimage.log"
			[ $rc = 0 ] || { rm -rf "$d.tmp"; exit $rc; }
			mv "$d.tmp" "$d" || exit 1
			echo "# built the imaging environment in $((SECONDS - t0)) s"
		fi
	) 9>"$BOOTCACHE/.lock"
	rc=$?
	[ $rc = 3 ] && skip "mkimage cannot obtain the Debian kernel package (no apt network and none cached): $(tail -1 "$BOOTCACHE/mkimage.log")"
	[ $rc = 0 ] || fatal "mkimage failed (exit $rc)"
	BOOT_KERNEL=$d/vmlinuz
	BOOT_INITRD=$d/initrd.img
	note "imaging environment $d: initrd $(($(fsize "$BOOT_INITRD") / 1024)) KiB, kernel $(($(fsize "$BOOT_KERNEL") / 1024)) KiB"
}

# vm_start TAG SECS MAC APPEND [DISK...]: boots the imaging environment in
# the background, bounded by SECS, with a virtio NIC of MAC and each DISK
# as a raw virtio disk; the serial console goes to $WORK/TAG.log.
# VM_NETDEV replaces the NIC's qemu -netdev (default: user networking on
# 198.18.0.0/24; its id must be n0).
vm_start() {
	local tag=$1 secs=$2 mac=$3 append=$4 d drives=()
	shift 4
	for d in "$@"; do drives+=(-drive "file=$d,format=raw,if=virtio,cache=unsafe"); done
	note "[$tag] qemu: -append \"console=ttyS0 $append\" ${*:+disks $*}, bounded by $secs s"
	vm_qemu "$tag" "$secs" -kernel "$BOOT_KERNEL" -initrd "$BOOT_INITRD" \
		-append "console=ttyS0 $append" \
		-netdev "${VM_NETDEV:-user,id=n0,net=198.18.0.0/24}" -device "virtio-net-pci,netdev=n0,mac=$mac" \
		"${drives[@]}"
}
# vm_qemu TAG SECS QEMU-ARGS...: any other VM (a PXE boot, for one):
# qemu-system-x86_64 -m 512 -smp 1 -nographic -no-reboot QEMU-ARGS in the
# background, bounded by SECS, serial console in $WORK/TAG.log, stopped at
# exit; then vm_wait, vm_wait_for, vm_kill, vm_expect ... TAG as for
# vm_start.
vm_qemu() {
	local tag=$1 secs=$2
	shift 2
	: >"$WORK/$tag.log"
	VM_T0[$tag]=$(now)
	timeout -k 5 "$secs" "$QEMU" -m 512 -smp 1 -nographic -no-reboot "$@" \
		-serial "file:$WORK/$tag.log" -monitor none </dev/null >"$WORK/$tag.qemu" 2>&1 &
	VM_PID[$tag]=$!
}
# vm_disk TAG SECS FIRMWARE DISK: qemu boots DISK (virtio, first in the boot
# order) with no -kernel through FIRMWARE (bios: SeaBIOS; uefi: OVMF, as
# the caller's FIRMWARE=pflash|bios, OVMF_CODE, OVMF_VARS and OVMF say), a
# virtio NIC without a boot ROM on user networking for imgdhcp
vm_disk() {
	local tag=$1 secs=$2 fw=$3 disk=$4 f=()
	if [ "$fw" = uefi ]; then
		if [ "$FIRMWARE" = pflash ]; then
			cp "$OVMF_VARS" "$WORK/$tag.vars" || fatal "copy $OVMF_VARS"
			f=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
				-drive "if=pflash,format=raw,unit=1,file=$WORK/$tag.vars")
		else
			f=(-bios "$OVMF")
		fi
	fi
	note "[$tag] qemu: $fw firmware, disk $(basename "$disk"), no -kernel, bounded by $secs s"
	vm_qemu "$tag" "$secs" "${f[@]}" \
		-drive "file=$disk,format=raw,if=none,id=d0,cache=unsafe" -device virtio-blk-pci,drive=d0,bootindex=1 \
		-netdev user,id=n0,net=198.18.0.0/24 -device virtio-net-pci,netdev=n0,romfile=
}
# vm_booted TAG T0 WHAT: a disk booted on its own (vm_disk) reaches the
# imaging environment: within 140 s img finishes on the console, the VM
# powers off by itself, a kernel started and img exited 0
vm_booted() {
	local tag=$1
	if vm_wait_for "$tag" 'init: img finished' 140; then
		pass "[$tag] $3 into the kernel after $(since "$2") s"
	else
		fail "[$tag] $3: no, img did not finish within 140 s"
	fi
	vm_wait "$tag"
	[ "${VM_RCS[$tag]}" = 0 ] && pass "[$tag] the VM powered off by itself" || fail "[$tag] qemu exit ${VM_RCS[$tag]} (124: killed by its bound)"
	vm_expect "$tag" 'Linux version' "[$tag] a kernel started from the disk"
	vm_expect "$tag" 'init: img finished with exit status 0' "[$tag] img ran on the booted system"
}
# vm_wait TAG: waits for the VM to end; RC is the exit status (124: it was
# killed by its bound); its console's last lines are printed as notes.
vm_wait() {
	local tag=$1
	wait "${VM_PID[$tag]}"
	RC=$?
	unset "VM_PID[$tag]"
	VM_RCS[$tag]=$RC
	note "[$tag] qemu exit $RC after $(since "${VM_T0[$tag]}") s"
	vm_console "$tag"
	[ -s "$WORK/$tag.qemu" ] && sed 's/^/#   qemu: /' "$WORK/$tag.qemu" | head -5
	return 0
}
# vm_console TAG: the console's lines from init and img, as notes
vm_console() {
	tr -d '\r' <"$WORK/$1.log" | grep -E '^(init|img):|^/ #|Kernel panic' | tail -30 | sed "s/^/#   $1 console: /"
}
# vm_running TAG: 0 while the VM runs
vm_running() { [ -n "${VM_PID[$1]:-}" ] && kill -0 "${VM_PID[$1]}" 2>/dev/null; }
# vm_wait_for TAG REGEX SECS: waits until the console matches REGEX (ERE);
# 1 when it did not within SECS or the VM ended without it
vm_wait_for() {
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		tr -d '\r' <"$WORK/$1.log" | grep -Eq -- "$2" && return 0
		vm_running "$1" || { tr -d '\r' <"$WORK/$1.log" | grep -Eq -- "$2"; return; }
		sleep 0.5
	done
	return 1
}
# vm_kill TAG: stops the VM (kill, then wait)
vm_kill() {
	[ -n "${VM_PID[$1]:-}" ] || return 0
	kill "${VM_PID[$1]}" 2>/dev/null   # timeout passes it on to qemu
	wait "${VM_PID[$1]}" 2>/dev/null
	unset "VM_PID[$1]"
}
# vm_grep TAG REGEX: the console matches REGEX (ERE)
vm_grep() { tr -d '\r' <"$WORK/$1.log" | grep -Eq -- "$2"; }
# vm_expect TAG REGEX WHAT
vm_expect() {
	if vm_grep "$1" "$2"; then pass "$3: console shows /$2/"
	else fail "$3: no console line matches /$2/"; fi
}
# vm_expect_not TAG REGEX WHAT
vm_expect_not() {
	if vm_grep "$1" "$2"; then fail "$3: console shows /$2/: $(tr -d '\r' <"$WORK/$1.log" | grep -E -- "$2" | head -2 | tr '\n' ' ')"
	else pass "$3: console never shows /$2/"; fi
}
# vm_times TAG: kernel start -> img running, and the whole boot, as notes
# (never assertions)
vm_times() {
	local s e
	s=$(tr -d '\r' <"$WORK/$1.log" | sed -n 's/^init: img started \([0-9.]*\) s after kernel start.*/\1/p' | head -1)
	e=$(tr -d '\r' <"$WORK/$1.log" | sed -n 's/^init: img finished .*, \([0-9.]*\) s after kernel start.*/\1/p' | head -1)
	note "[$1] times: kernel start -> img running ${s:-?} s; kernel start -> img done ${e:-?} s; qemu start -> end $(since "${VM_T0[$1]}") s (software emulation)"
}
# boot_count TAG: how many times a kernel started on the console
boot_count() { tr -d '\r' <"$WORK/$1.log" | grep -c 'Linux version'; }
