#!/bin/bash
# boot_restore: a workstation (qemu, blank virtio disk) boots the imaging
# environment with img=auto; the real imgserv on the host has pending
# restore work for its MAC; img -auto restores the image and reports; the
# VM powers off.  The disk passes check.sh against the fixture, and the
# server's statistics and log say the image was sent and the report
# arrived.  Boot durations are printed as notes.
. "$(dirname "$0")/bootlib.sh"
boot_init boot_restore

MAC=52:54:00:18:00:01
copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
run_img -makep "$S" lab/boot.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload lab/boot.img to the server"
"$IMGSERV" -work $MAC restore lab/boot.img -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1 ||
	fatal "imgserv -work: $(cat "$WORK/w")"

blank "$WORK/vm.img" "$(fsize "$WORK/src.img")"
vm_start vm 400 $MAC "img=auto imgserver=$BOOT_HOST:$SRV_PORT imgafter=poweroff" "$WORK/vm.img"
vm_wait vm
expect_rc 0 "the VM powered off by itself"
vm_expect vm '^init: network: eth0 198\.18\.0\.[0-9]+/' "DHCP on qemu's 198.18.0.0/24"
vm_expect vm "^init: img started [0-9.]+ s after kernel start: img -auto \\(IMGSERVER=$BOOT_HOST:$SRV_PORT\\)" "img -auto ran with IMGSERVER from imgserver="
vm_expect vm '^img: .*restore lab/boot\.img|restore lab/boot\.img' "img -auto did the pending restore"
vm_expect vm '^init: img finished with exit status 0' "img succeeded"
vm_expect vm '^init: powering off' "imgafter=poweroff"
vm_expect_not vm 'starting a shell|Kernel panic' "no rescue shell, no panic"
[ "$(boot_count vm)" = 1 ] && pass "the kernel started once" || fail "the kernel started $(boot_count vm) times"
vm_times vm

run_check "$WORK/src.img" "$WORK/vm.img"

expect_stat "$SRV_PORT" "Images Sent" 1
srv_log "$WORK/srv"
srv_log_expect "  auto  lab/boot\\.img  .*ok|  auto  .*$MAC|$MAC.*  auto  " "the automatic-imaging request"
srv_log_expect "  get  lab/boot\\.img  [0-9]+  ok" "the image was sent"
srv_log_expect "  report  lab/boot\\.img  .*ok" "the VM's report arrived"
"$IMGSERV" -work list -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1
grep -qi "$MAC" "$WORK/w" && fail "pending work not cleared: $(cat "$WORK/w")" || pass "pending work cleared by the report"
"$IMGSERV" -stations -state="$WORK/srv/state" -conf=/dev/null >"$WORK/st" 2>&1
grep -qi "$MAC.*lab/boot.img" "$WORK/st" && pass "stations: the VM's MAC received lab/boot.img" ||
	fail "stations list lacks $MAC with lab/boot.img: $(cat "$WORK/st")"
e2e_finish
