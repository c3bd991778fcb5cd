#!/bin/bash
# boot_capture: a workstation (qemu) whose virtio disk is a fixture disk
# boots the imaging environment with img=auto; the server has pending
# "make" work for its MAC; img -auto captures the disk and uploads it
# with the server's one-time permission.  The stored image verifies, and
# restored locally onto a blank disk it passes check.sh against the
# fixture.  It runs with the default imgafter (reboot): qemu's -no-reboot
# turns the reboot into qemu's exit.
. "$(dirname "$0")/bootlib.sh"
boot_init boot_capture

MAC=52:54:00:18:00:02
copy_fixture mbr small "$WORK/vm.img"
fixture mbr small
SRC=$FIXTURE
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
"$IMGSERV" -work $MAC make backup/vm.img -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1 ||
	fatal "imgserv -work: $(cat "$WORK/w")"

vm_start vm 400 $MAC "img=auto imgserver=$BOOT_HOST:$SRV_PORT" "$WORK/vm.img"
vm_wait vm
expect_rc 0 "the VM rebooted by itself (qemu -no-reboot: it ended)"
vm_expect vm "^init: img started [0-9.]+ s after kernel start: img -auto" "img -auto ran"
vm_expect vm 'make backup/vm\.img' "img -auto did the pending make"
vm_expect vm '^init: img finished with exit status 0' "img succeeded"
vm_expect vm '^init: rebooting' "the default imgafter=reboot"
[ "$(boot_count vm)" = 1 ] && pass "the kernel started once" || fail "the kernel started $(boot_count vm) times"
vm_expect_not vm 'starting a shell|Kernel panic' "no rescue shell, no panic"
vm_times vm

STORED=$WORK/srv/store/backup/vm.img
[ -f "$STORED" ] && pass "the image landed on the server as backup/vm.img ($(fsize "$STORED") bytes)" ||
	fatal "no backup/vm.img in the server's store: $(find "$WORK/srv/store" | tr '\n' ' ')"
ls -a "$WORK/srv/store/backup" | grep -q '^\.img-upload' &&
	fail "temporary upload file left in the store" || pass "no temporary upload file left"
run_img -verify "$STORED"
expect_rc 0 "img -verify of the uploaded image"
blank "$WORK/dst.img" "$(fsize "$SRC")"
run_img -restorel "$STORED" -disk="$WORK/dst.img"
expect_rc 0 "restore the uploaded image locally"
run_check "$SRC" "$WORK/dst.img"

expect_stat "$SRV_PORT" "Images Received" 1
srv_log "$WORK/srv"
srv_log_expect "  put  backup/vm\\.img  [0-9]+  ok" "the upload"
srv_log_expect "  report  backup/vm\\.img  .*ok" "the VM's report arrived"
"$IMGSERV" -work list -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1
grep -qi "$MAC" "$WORK/w" && fail "pending work not cleared: $(cat "$WORK/w")" || pass "pending work cleared by the report"
e2e_finish
