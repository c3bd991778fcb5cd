#!/bin/bash
# disk_errors: a disk that fails under img (issue 2: "a disk that cannot
# be read ... clear error, non-zero exit"), with real I/O errors: qemu's
# blkdebug driver answers the guest's reads (then writes) of one sector
# with EIO, so the guest kernel's block layer and img see exactly what a
# failing disk gives them.  The sector holds data of a file on the ext4
# partition, so it lies in a used block that capture reads and restore
# writes.
#   capture: pending "make" work; img -auto's capture fails naming
#            /dev/vda and an offset whose chunk holds the bad sector; the
#            upload is abandoned: the server stores no image and no
#            temporary file, logs the failure, keeps the work pending;
#            init shows the error and offers a shell (no reboot loop).
#   restore: pending "restore" work of a good image onto a disk whose
#            writes fail at that sector; img fails naming /dev/vda and
#            the offset; the report says failed, the work stays pending.
. "$(dirname "$0")/bootlib.sh"
boot_init disk_errors debugfs mkfs.ext4 sfdisk

# The disk: MBR, one ext4 partition (4 KiB blocks) at 1 MiB holding an
# 8 MiB file; BAD is an absolute sector inside the file's 1000th block.
D=$WORK/disk.img
P1=2048
truncate -s $((64 * 1024 * 1024)) "$D" || fatal "truncate"
sfdisk -q "$D" <<EOF || fatal "sfdisk"
label: dos
start=$P1, type=83
EOF
mkdir -p "$WORK/tree/data"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$WORK/tree/data/big.bin"
E=$WORK/p1.img
truncate -s $((63 * 1024 * 1024)) "$E"
mkfs.ext4 -q -b 4096 -L imgdata -d "$WORK/tree" "$E" || fatal "mkfs.ext4"
blk=$(debugfs -R "bmap /data/big.bin 1000" "$E" 2>/dev/null)
case $blk in ''|*[!0-9]*|0) fatal "debugfs bmap gave '$blk'";; esac
BAD=$((P1 + blk * 8 + 3))
dd if="$E" of="$D" bs=512 seek=$P1 conv=notrunc,sparse status=none || fatal "place the partition"
rm -f "$E"
note "bad sector $BAD (byte $((BAD * 512))): block $blk of /data/big.bin"

# blkdebug RULES DISK: a -drive spec whose reads or writes of sector BAD
# fail with EIO (errno 5), every time
blkdebug() {
	cat >"$WORK/$1.rules" <<EOF
[inject-error]
event = "$1_aio"
errno = "5"
sector = "$BAD"
once = "off"
immediately = "on"
EOF
	echo "driver=raw,file.driver=blkdebug,file.config=$WORK/$1.rules,file.image.filename=$2,if=virtio,cache=unsafe"
}
# vm_bad TAG MAC DRIVE: the imaging environment with img=auto on DRIVE
vm_bad() {
	note "[$1] qemu: img=auto, disk through blkdebug: $3"
	vm_qemu "$1" 300 -kernel "$BOOT_KERNEL" -initrd "$BOOT_INITRD" \
		-append "console=ttyS0 img=auto imgserver=$BOOT_HOST:$SRV_PORT imgafter=poweroff" \
		-netdev user,id=n0,net=198.18.0.0/24 -device "virtio-net-pci,netdev=n0,mac=$2" -drive "$3"
	if vm_wait_for "$1" '^/ # ' 240; then
		pass "[$1] the failure ends at a shell prompt on the console"
		sleep 3   # a reboot or power-off would end qemu now
		vm_running "$1" && pass "[$1] the VM stays up at the shell" || fail "[$1] the VM ended after the failure"
	else
		fail "[$1] no shell prompt on the console"
	fi
	vm_kill "$1"
	vm_console "$1"
}
# offset_ok TAG VERB: img's "cannot VERB disk /dev/vda at offset N" names
# an offset whose chunk (1 MiB) holds the bad sector
offset_ok() {
	local off
	off=$(tr -d '\r' <"$WORK/$1.log" | sed -n "s/^img: .*cannot $2 disk \\/dev\\/vda at offset \\([0-9]*\\): Input\\/output error.*/\\1/p" | head -1)
	if [ -z "$off" ]; then
		fail "[$1] no 'cannot $2 disk /dev/vda at offset N: Input/output error' on the console"
	elif [ "$off" -le $((BAD * 512)) ] && [ $((BAD * 512)) -lt $((off + 1048576)) ]; then
		pass "[$1] img names /dev/vda, the I/O error and offset $off, within a chunk of the bad sector"
	else
		fail "[$1] img names offset $off, not within a chunk of the bad byte $((BAD * 512))"
	fi
}

mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
work() { "$IMGSERV" -work "$@" -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1 || fatal "imgserv -work $*: $(cat "$WORK/w")"; }

# ---- capture from a disk whose reads fail
MAC1=52:54:00:18:00:21
work $MAC1 make lab/bad.img
vm_bad make $MAC1 "$(blkdebug read "$D")"
vm_expect make 'I/O error, dev vda, sector' "[make] the guest kernel saw the read error"
offset_ok make read
vm_expect make '^init: img finished with exit status [1-9]' "[make] img exited non-zero"
vm_expect make '^init: error: img -auto failed' "[make] init shows the error"
vm_expect_not make '^img: captured|^init: (powering off|rebooting)' "[make] no success, no power-off"
[ -e "$WORK/srv/store/lab/bad.img" ] && fail "[make] the server stored lab/bad.img from a failed capture" ||
	pass "[make] the server stored no image"
ls -a "$WORK/srv/store" "$WORK/srv/store/lab" 2>/dev/null | grep -q '^\.img-upload' &&
	fail "[make] a temporary upload file was left in the store" || pass "[make] no temporary upload file left"

# ---- restore onto a disk whose writes fail
run_img -makep "$S" lab/good.img -key="$WORK/key" -disk="$D"
expect_rc 0 "upload a good image of the same disk"
MAC2=52:54:00:18:00:22
work $MAC2 restore lab/good.img
blank "$WORK/target.img" "$(fsize "$D")"
vm_bad restore $MAC2 "$(blkdebug write "$WORK/target.img")"
vm_expect restore 'I/O error, dev vda, sector' "[restore] the guest kernel saw the write error"
offset_ok restore write
vm_expect restore '^init: img finished with exit status [1-9]' "[restore] img exited non-zero"
vm_expect_not restore '^img: restored|^init: (powering off|rebooting)' "[restore] no success, no power-off"

srv_log "$WORK/srv"
srv_log_expect "  put  lab/bad\\.img  .*failed" "the abandoned upload is logged as failed"
srv_log_expect "  report  lab/bad\\.img  .*failed" "the capture's failure report"
srv_log_expect "  report  lab/good\\.img  .*failed" "the restore's failure report"
work list
for m in "$MAC1.*lab/bad.img" "$MAC2.*lab/good.img"; do
	grep -Eqi "$m" "$WORK/w" && pass "the failed work stays pending: /$m/" ||
		fail "pending work after the failures lacks /$m/: $(cat "$WORK/w")"
done
e2e_finish
