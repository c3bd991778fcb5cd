#!/bin/bash
# The whole preboot chain on the network test bed: a VM on a tap device in
# the bed's bridge namespace boots from its NIC's own iPXE ROM (Debian's
# ipxe-qemu); node m runs a plain DHCP server (addresses only, as a site's
# would); node 1 runs dnsmasq as proxyDHCP + TFTP with the configuration
# initramfs/pxeconf writes, and imgserv with its boot endpoint.  iPXE asks
# imgserv over HTTP, gets the imaging environment because the VM has
# pending restore work, img -auto restores the disk and reports, the VM
# reboots, and on the second boot imgserv tells it to boot locally: it
# never downloads the kernel again.  Then a UEFI machine (OVMF, the NIC's
# EFI iPXE ROM) without work asks once and is told to boot locally.  The
# restored disk is checked like the engine tests do.  Durations are notes,
# never assertions.
# The VM's NIC is an e1000 (Debian's 2019 iPXE virtio ROM gets no DHCP
# answer on this bed), so the environment is the generic flavour: the
# cloud kernel of the small one has no e1000 driver.
BOOT_FLAVOUR=generic
. "$(dirname "$0")/bootlib.sh"
boot_init pxe_flow dnsmasq ip
ROM=${IPXE_ROM:-/usr/lib/ipxe/qemu/pxe-e1000.rom}
[ -s "$ROM" ] || fatal "no iPXE ROM for the VM's NIC at $ROM (Debian package ipxe-qemu)"

MAC=52:54:00:9e:00:01
copy_fixture gpt small "$WORK/src.img"
blank "$WORK/target.img" "$(fsize "$WORK/src.img")"
S=$WORK/srv
mkdir -p "$S/store/lab" "$S/boot"
run_img -makel "$S/store/lab/pc.img" -disk="$WORK/src.img"
expect_rc 0 "image of the fixture disk in the server's store"
cp "$BOOT_KERNEL" "$S/boot/vmlinuz" && cp "$BOOT_INITRD" "$S/boot/initrd.img" ||
	fatal "copy the imaging environment to the server"
mkkey "$WORK/key"
cat >"$S/imgserv.conf" <<CONF
http_port = 8098
boot = $S/boot
boot_args = console=ttyS0 imgafter=reboot
menu = never
CONF

P=px$$   # the bed's prefix: unique while the test runs (a pid)
bed_up "$P" 1
DHCP=$(bed_addr m)     # the site's DHCP server: addresses only
BOOTSRV=$(bed_addr 1)  # proxyDHCP + TFTP + imgserv
# dnsmasq serves TFTP as nobody: its directory must be reachable by
# nobody, which the build tree may not be (a clone under /root)
PXE=$(mktemp -d /tmp/img-pxe.XXXXXX) || fatal "mktemp"
chmod 755 "$PXE"
trap 'rm -rf "$PXE"; bed_exit' EXIT
"$E2E_DIR/../../initramfs/pxeconf" "$PXE" -subnet 198.18.0.0/24 -server "$BOOTSRV" \
	-http 8098 >"$WORK/pxeconf.out" 2>&1 || fatal "pxeconf: $(cat "$WORK/pxeconf.out")"
pass "pxeconf wrote the proxyDHCP configuration"
ip netns exec "$P-m" dnsmasq --conf-file=/dev/null --keep-in-foreground --port=0 --no-ping \
	--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0,1h --dhcp-leasefile="$WORK/leases" \
	--log-dhcp --log-facility="$WORK/dhcp.log" --pid-file= &
disown   # the bed's teardown kills what runs in its namespaces
ip netns exec "$P-r1" dnsmasq --conf-file="$PXE/dnsmasq.conf" --keep-in-foreground \
	--log-facility="$WORK/proxy.log" --pid-file= &
disown
ip netns exec "$P-r1" "$IMGSERV" -foreground -store="$S/store" -state="$S/state" \
	-conf="$S/imgserv.conf" -key="$WORK/key" -pidfile= 2>"$S/log" &
disown
for i in $(seq 50); do
	ip netns exec "$P-r1" "$IMGSERV" -status -i "$BOOTSRV" -conf=/dev/null >/dev/null 2>&1 && break
	sleep 0.2
done
ip netns exec "$P-r1" "$IMGSERV" -work $MAC restore lab/pc.img -i "$BOOTSRV" -key="$WORK/key" \
	-conf=/dev/null >"$WORK/work.out" 2>&1 && pass "pending work set: restore lab/pc.img" ||
	fatal "imgserv -work: $(cat "$WORK/work.out")"

ip netns exec "$P-br" ip tuntap add tap0 mode tap || fatal "tap device"
ip netns exec "$P-br" ip link set tap0 master br0 up || fatal "tap into the bridge"
note "VM: BIOS + the NIC's iPXE ROM ($ROM), virtio disk $(fsize "$WORK/target.img") bytes, bounded by 600 s"
t0=$(now)
ip netns exec "$P-br" timeout -k 5 600 "$QEMU" -m 512 -smp 1 -display none -monitor none \
	-serial "file:$WORK/vm.log" -boot n \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
	-device "e1000,netdev=n0,mac=$MAC,romfile=$ROM" \
	-drive "file=$WORK/target.img,format=raw,if=virtio,cache=unsafe" \
	</dev/null >"$WORK/vm.qemu" 2>&1 &
VM_PID[vm]=$!
VM_T0[vm]=$t0

# log_has REGEX: the server's request log has a matching record
log_has() {
	"$IMGSERV" -log -state="$S/state" -conf=/dev/null >"$WORK/srvlog" 2>/dev/null &&
		grep -Eq -- "$1" "$WORK/srvlog"
}
# wait_log REGEX SECS WHAT: seconds since the VM started, or fail
wait_log() {
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		if log_has "$1"; then
			pass "$3 after $(since "$t0") s"
			return 0
		fi
		vm_running vm || break
		sleep 1
	done
	fail "$3: no server log record /$1/ within $2 s"
	return 1
}
ok=1
wait_log " boot  lab/pc.img .* ok .*imaging environment: restore lab/pc.img \(pending work\)" 180 \
	"iPXE asked imgserv and was sent to the imaging environment" || ok=0
[ $ok = 1 ] && { wait_log " report  lab/pc.img .* ok " 400 "img -auto restored and reported" || ok=0; }
[ $ok = 1 ] && { wait_log " $MAC  boot  .* ok .*local disk \(no work" 180 \
	"second boot: imgserv said boot the local disk" || ok=0; }
vm_kill vm
note "VM ran $(since "$t0") s in all (software emulation)"
vm_console vm
[ $ok = 1 ] || sed 's/^/#   server: /' "$S/log" | tail -20

# A UEFI machine (OVMF, the NIC's EFI iPXE ROM) with no work: one question
# to imgserv, told to boot its local disk, no kernel download.
UMAC=52:54:00:9e:00:02
OVMF=${OVMF:-/usr/share/qemu/OVMF.fd}
if [ -s "$OVMF" ]; then
	t0=$(now)
	ip netns exec "$P-br" ip tuntap add tap1 mode tap || fatal "tap device"
	ip netns exec "$P-br" ip link set tap1 master br0 up || fatal "tap into the bridge"
	ip netns exec "$P-br" timeout -k 5 240 "$QEMU" -m 512 -smp 1 -display none -monitor none \
		-bios "$OVMF" -serial "file:$WORK/uefi.log" -boot n \
		-netdev tap,id=n0,ifname=tap1,script=no,downscript=no \
		-device "e1000,netdev=n0,mac=$UMAC,romfile=${IPXE_EFI_ROM:-/usr/lib/ipxe/qemu/efi-e1000.rom}" \
		</dev/null >"$WORK/uefi.qemu" 2>&1 &
	VM_PID[uefi]=$!
	VM_T0[uefi]=$t0
	end=$((SECONDS + 200))
	while [ $SECONDS -lt $end ] && ! log_has " $UMAC  boot  "; do
		vm_running uefi || break
		sleep 1
	done
	vm_kill uefi
	if log_has " $UMAC  boot  .* ok .*local disk \(no work"; then
		pass "UEFI machine without work: told to boot its local disk after $(since "$t0") s"
	else
		fail "UEFI machine: no boot.ipxe record answered 'local disk' within 200 s"
		sed 's/^/#   uefi qemu: /' "$WORK/uefi.qemu" | head -5
	fi
else
	fail "no OVMF firmware at $OVMF (Debian package ovmf): the UEFI path is not tested"
fi

srv_log "$S"
run_check "$WORK/src.img" "$WORK/target.img"
# The order of what the workstation asked for: script, kernel, initrd,
# work, the image, the report; then only the script, never the kernel.
seq=$(awk '$6 == "boot" || $6 == "auto" || $6 == "get" || $6 == "report" {
	print $6 ($7 ~ /vmlinuz|initrd/ ? ":" $7 : "") }' "$WORK/srvlog" | tr '\n' ' ')
note "request sequence: $seq"
[ "$seq" = "boot boot:vmlinuz boot:initrd.img auto get report boot boot " ] &&
	pass "requests in order, and no kernel download on the boots without work" ||
	fail "request sequence: $seq"
grep -q "sent $PXE/tftp/boot.ipxe" "$WORK/proxy.log" && pass "dnsmasq served boot.ipxe over TFTP" ||
	fail "proxy log lacks the TFTP transfer of boot.ipxe"
grep -Eq "DHCPACK\(.*\) 198\.18\.0\.1[0-5][0-9] $MAC" "$WORK/dhcp.log" &&
	pass "the plain DHCP server gave the address" || fail "DHCP log lacks the ACK for $MAC"
grep -Eq "DHCPACK|DHCPOFFER\(eth0\) 198" "$WORK/proxy.log" &&
	fail "the proxyDHCP handed out an address" || pass "the proxyDHCP handed out no address"
"$IMGSERV" -stations -state="$S/state" -conf=/dev/null >"$WORK/st" 2>&1
grep -q "^$MAC .*lab/pc.img" "$WORK/st" && pass "the workstation is recorded with its last image" ||
	fail "stations: $(cat "$WORK/st")"
e2e_finish
