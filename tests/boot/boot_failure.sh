#!/bin/bash
# boot_failure: pending work that fails (restore of an image that does
# not exist).  The console shows img's error and init's shell offer, and
# a shell prompt; the VM neither powers off nor reboots (imgafter=poweroff
# applies to success only; qemu runs with -no-reboot, so a reboot would
# end it); the server recorded the failed report and keeps the work.
# Then a network without a DHCP server (a qemu hub with nothing else on
# it): init gives up after the bounded DHCP tries (imgdhcp=1) and offers
# the shell the same way.
. "$(dirname "$0")/bootlib.sh"
boot_init boot_failure

MAC=52:54:00:18:00:03
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
"$IMGSERV" -work $MAC restore lab/missing.img -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1 ||
	fatal "imgserv -work: $(cat "$WORK/w")"
blank "$WORK/vm.img" $((64 * 1024 * 1024))

vm_start vm 300 $MAC "img=auto imgserver=$BOOT_HOST:$SRV_PORT imgafter=poweroff" "$WORK/vm.img"
if vm_wait_for vm '^/ # ' 240; then
	pass "a shell prompt appeared on the console"
	sleep 5   # a reboot or power-off would end qemu now
	vm_running vm && pass "the VM stays up at the shell (no reboot, no power-off)" ||
		fail "the VM ended after the failure (reboot or power-off)"
else
	fail "no shell prompt on the console"
fi
vm_kill vm
vm_console vm
vm_expect vm '^img: .*lab/missing\.img' "img's error names the image"
vm_expect vm '^init: img finished with exit status [1-9]' "init saw the failure"
vm_expect vm '^init: error: img -auto failed' "init shows the error"
vm_expect vm "^init: starting a shell on the console" "init offers a shell"
vm_expect_not vm '^init: (powering off|rebooting)' "init does not leave after a failure"
[ "$(boot_count vm)" = 1 ] && pass "the kernel started once" || fail "the kernel started $(boot_count vm) times"
vm_times vm

srv_log "$WORK/srv"
srv_log_expect "  get  lab/missing\\.img  .*failed" "the failed request for the missing image"
srv_log_expect "  report  lab/missing\\.img  .*failed|  report  .*failed" "the VM's failure report"
"$IMGSERV" -work list -i "$S" -key="$WORK/key" -conf=/dev/null >"$WORK/w" 2>&1
grep -qi "$MAC.*lab/missing.img" "$WORK/w" && pass "the failed work stays pending" ||
	fail "pending work after a failure: $(cat "$WORK/w")"

# no DHCP answer: bounded tries, then the error and the shell
VM_NETDEV=hubport,id=n0,hubid=7 vm_start nodhcp 200 52:54:00:18:00:04 \
	"img=auto imgserver=$BOOT_HOST:$SRV_PORT imgafter=poweroff imgdhcp=1" "$WORK/vm.img"
if vm_wait_for nodhcp '^/ # ' 150; then
	pass "no DHCP: a shell prompt appeared on the console"
	sleep 3
	vm_running nodhcp && pass "no DHCP: the VM stays up at the shell" ||
		fail "no DHCP: the VM ended (reboot or power-off)"
else
	fail "no DHCP: no shell prompt on the console"
fi
vm_kill nodhcp
vm_console nodhcp
vm_expect nodhcp '^init: DHCP on eth0 .*try 1 of 1' "no DHCP: one round of tries (imgdhcp=1)"
vm_expect nodhcp '^init: no DHCP answer on: eth0' "no DHCP: init says so"
vm_expect nodhcp '^init: error: no network' "no DHCP: the error"
vm_expect_not nodhcp '^init: img started|^init: (powering off|rebooting)' "no DHCP: img not run, no power-off"
[ "$(boot_count nodhcp)" = 1 ] && pass "no DHCP: the kernel started once" || fail "no DHCP: the kernel started $(boot_count nodhcp) times"
e2e_finish
