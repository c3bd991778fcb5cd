#!/bin/bash
# imgserv's boot endpoint for iPXE (-http=PORT): per MAC an iPXE script
# that boots the imaging environment when the workstation has work and
# exits to the local disk when it has none; menu policy never / always /
# hotkey, global and per rule; unknown machines registered; a rule's
# restore that the workstation has already done (a real img -auto restore
# reported to this server) does not boot it again; the environment's
# files served byte-exact; bad requests refused; every request logged.
# The qemu boot of the real environment is tests/boot/pxe_flow.sh.
. "$(dirname "$0")/lib.sh"
e2e_init server_boot python3 sqlite3

copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
M1=52:54:00:b0:00:01 M2=52:54:00:b0:00:02 M3=52:54:00:b0:00:03 M4=52:54:00:b0:00:04
S="$WORK/s"
mkdir -p "$S/boot"
head -c 300000 /dev/urandom >"$S/boot/vmlinuz"
head -c 700000 /dev/urandom >"$S/boot/initrd.img"
free_port
HP=$PORT
cat >"$S/imgserv.conf" <<CONF
boot_args = console=ttyS0 imgafter=reboot
rule = mac=$M3 action=none menu=hotkey
rule = mac=$M4 action=restore path=lab/pc.img
CONF
srv_start "$S" -key="$WORK/key" -http="$HP" -boot="$S/boot"
A=127.0.0.1:$SRV_PORT
U=http://127.0.0.1:$HP
run_img -makep "$A" lab/pc.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload lab/pc.img"

# get URL [METHOD]: body in $WORK/body, HTTP status in CODE
get() {
	CODE=$(python3 - "$1" "${2:-GET}" "$WORK/body" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    r = urllib.request.urlopen(req, timeout=10)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
open(sys.argv[3], "wb").write(body)
print(code)
PY
)
}
has() { grep -q -- "$1" "$WORK/body"; }
script_is() { # script_is WHAT local|auto|menu|hotkey
	local want=$2 got=unknown
	if has '^prompt --key'; then got=hotkey
	elif has '^kernel .* img=auto '; then got=auto
	elif has '^kernel .* img=menu '; then got=menu
	elif has '^exit$' && ! has '^kernel'; then got=local
	fi
	if [ "$CODE" = 200 ] && head -1 "$WORK/body" | grep -qx '#!ipxe' && [ "$got" = "$want" ]; then
		pass "$1: an iPXE script that boots $want"
	else
		fail "$1: HTTP $CODE, script boots '$got', expected $want: $(tr '\n' '|' <"$WORK/body")"
	fi
}

# 1. unknown machine, no work, menu never: local disk, and it is registered
get "$U/boot.ipxe?mac=$M1&serial=CZC%20123&product=OptiPlex%207010&hostname=lab-7&manufacturer=Dell%20Inc.&uuid=4c4c4544-0042&memsize=2048&platform=pcbios"
script_is "unknown machine without work" local
"$IMGSERV" -stations -state="$S/state" -conf=/dev/null >"$WORK/st"
grep -q "^$M1  lab-7  CZC 123  OptiPlex 7010  0  2147483648 " "$WORK/st" &&
	pass "unknown machine registered with host name, serial, product and memory" ||
	fail "stations: $(cat "$WORK/st")"
hwinfo() { sqlite3 "$S/state/state.db" "SELECT hwinfo FROM stations WHERE mac = '$1'"; }
hwinfo $M1 | grep -q '^Manufacturer: Dell Inc\.$' && hwinfo $M1 | grep -q '^UUID: 4c4c4544-0042$' &&
	hwinfo $M1 | grep -q '^Registered by: iPXE' && pass "its hardware as iPXE reports it is recorded" ||
	fail "hwinfo: $(hwinfo $M1 | tr '\n' '|')"
get "$U/boot.ipxe?mac=52:54:00:B0:00:01"
script_is "upper-case MAC, same machine" local

# 2. pending work: the environment with img=auto, this server, boot_args
"$IMGSERV" -work $M1 restore lab/pc.img -i "$A" -key="$WORK/key" -conf=/dev/null >/dev/null ||
	fail "imgserv -work $M1 restore"
get "$U/boot.ipxe?mac=$M1"
script_is "pending restore" auto
has "^kernel http://127.0.0.1:$HP/boot/vmlinuz initrd=initrd.img img=auto imgserver=$A console=ttyS0 imgafter=reboot " &&
	has "^initrd http://127.0.0.1:$HP/boot/initrd.img " && pass "kernel, initrd and command line name this server" ||
	fail "kernel lines: $(grep -E '^(kernel|initrd)' "$WORK/body")"

# 3. the environment's files, byte-exact; nothing else is served
for f in vmlinuz initrd.img; do
	get "$U/boot/$f"
	[ "$CODE" = 200 ] && cmp -s "$WORK/body" "$S/boot/$f" && pass "GET /boot/$f is byte-exact" ||
		fail "GET /boot/$f: HTTP $CODE"
done
for p in /boot/../imgserv.conf /boot/state.db /store/lab/pc.img /; do
	get "$U$p"
	[ "$CODE" = 404 ] && pass "GET $p refused (404)" || fail "GET $p: HTTP $CODE"
done
get "$U/boot.ipxe?mac=$M1" POST
[ "$CODE" = 405 ] && pass "POST refused (405)" || fail "POST: HTTP $CODE"
for q in "" "?mac=" "?mac=52:54:00:b0:00" "?mac=zz:54:00:b0:00:01" "?mac=52:54:00:b0:00:01%0aexit"; do
	get "$U/boot.ipxe$q"
	[ "$CODE" = 400 ] && has 'needs mac=' && pass "boot.ipxe$q refused with what to send (400)" ||
		fail "boot.ipxe$q: HTTP $CODE $(cat "$WORK/body")"
done

# 4. the work done for real (img -auto restores and reports): next boot local
blank "$WORK/t1.img" "$(fsize "$WORK/src.img")"
run_img -auto "$A" -mac=$M1 -disk="$WORK/t1.img"
expect_rc 0 "img -auto does the pending restore"
run_check "$WORK/src.img" "$WORK/t1.img"
get "$U/boot.ipxe?mac=$M1&manufacturer=Other&memsize=1"
script_is "after the pending work was done" local
hwinfo $M1 | grep -q 'Registered by: iPXE\|Manufacturer: Other' &&
	fail "img -auto's hardware report was replaced by iPXE's: $(hwinfo $M1 | head -3 | tr '\n' '|')" ||
	pass "img -auto's hardware report is kept over iPXE's"

# 5. rules: a restore the machine already has is not done at every boot
blank "$WORK/t4.img" "$(fsize "$WORK/src.img")"
get "$U/boot.ipxe?mac=$M4"
script_is "rule restore, not yet done" auto
run_img -auto "$A" -mac=$M4 -disk="$WORK/t4.img"
expect_rc 0 "img -auto restores by rule"
get "$U/boot.ipxe?mac=$M4"
script_is "rule restore already done" local
expect_line "$S/log" 'already has lab/pc.img' 30 "the log says why: already has the image"

# 6. menu policy: per rule (hotkey), then globally (always) after SIGHUP
get "$U/boot.ipxe?mac=$M3"
script_is "rule menu=hotkey" hotkey
has '^prompt --key m --timeout 3000 ' && has '^kernel .* img=menu ' &&
	pass "hot key: m within 3 s boots the menu, else exit" || fail "hotkey script: $(tr '\n' '|' <"$WORK/body")"
get "$U/boot.ipxe?mac=$M2"
script_is "no rule, global menu never" local
printf 'menu = always\nmenu_wait = 5\n' >>"$S/imgserv.conf"
kill -HUP "$SRV_PID"
wait_for_line "$S/log" 'configuration reloaded' 30
get "$U/boot.ipxe?mac=$M2"
script_is "global menu=always after reload" menu
get "$U/boot.ipxe?mac=$M3"
has '^prompt --key m --timeout 5000 ' && pass "menu_wait applies to the hot key" ||
	fail "menu_wait: $(head -2 "$WORK/body" | tr '\n' '|')"

# 7. a bad menu value keeps the running configuration
echo 'menu = sometimes' >>"$S/imgserv.conf"
kill -HUP "$SRV_PID"
expect_line "$S/log" 'reload failed.*menu takes never, always or hotkey' 30 \
	"bad menu= refused on reload, naming the values"
get "$U/boot.ipxe?mac=$M2"
script_is "after a refused reload" menu

# 8. work but no environment on the server: local disk, logged as failed
mv "$S/boot/vmlinuz" "$S/boot/vmlinuz.away"
"$IMGSERV" -work $M2 restore lab/pc.img -i "$A" -key="$WORK/key" -conf=/dev/null >/dev/null ||
	fail "imgserv -work $M2 restore"
get "$U/boot.ipxe?mac=$M2"
script_is "work without an environment on the server" local
expect_line "$S/log" "boot.*failed: local disk: the imaging environment is missing \\(put vmlinuz and initrd.img in $S/boot" 30 \
	"the log names the missing environment and its directory"
get "$U/boot/vmlinuz"
[ "$CODE" = 404 ] && pass "GET of a missing kernel: 404" || fail "missing kernel: HTTP $CODE"
mv "$S/boot/vmlinuz.away" "$S/boot/vmlinuz"

# 9. the request log holds the boot requests
# (the server records a request when done with it: read until complete)
boot_records() { n=$("$IMGSERV" -log -state="$S/state" -conf=/dev/null | tee "$WORK/log" | grep -c ' boot '); [ "$n" -ge 20 ]; }
wait_until 30 boot_records
[ "$n" -ge 20 ] && pass "request log: $n boot records" || fail "request log has $n boot records"
srv_log "$S" >/dev/null
srv_log_expect " boot .*initrd.img .*700000 .*ok" "the initrd download is logged with its size"

# 10. a boot endpoint port in use: the server says so and does not start
free_port
"$IMGSERV" -foreground -i:127.0.0.1 -port="$PORT" -http="$HP" -store="$S/store2" \
	-state="$S/state2" -conf=/dev/null -pidfile="$S/pid2" >"$WORK/out2" 2>&1 &
p2=$!
wait_until 30 proc_gone $p2
if kill -0 $p2 2>/dev/null; then
	kill $p2
	fail "a second server on the same http port kept running"
else
	wait $p2
	RC=$?
	expect_rc 1 "second server on a used http port"
	grep -q "cannot serve the boot endpoint on 127.0.0.1 port $HP (in use?" "$WORK/out2" &&
		pass "the error names the port and what to do" || fail "error: $(cat "$WORK/out2")"
fi
# 11. pxeconf refuses bad input, saying what it wanted, and writes nothing
PXC="$E2E_DIR/../../initramfs/pxeconf"
for bad in "-subnet 198.18.0/24 -server 198.18.0.11:is not NET/PREFIX" \
	"-subnet 198.18.0.0/33 -server 198.18.0.11:prefix length 33" \
	"-subnet 198.18.0.0/24 -server 198.18.0.300:is not an IPv4 address" \
	"-subnet 198.18.0.0/24 -server 198.18.0.11 -http 70000:is not a port"; do
	args=${bad%%:*} want=${bad#*:}
	# shellcheck disable=SC2086
	"$PXC" "$WORK/pxebad" $args >"$WORK/pxc.out" 2>&1
	RC=$?
	[ $RC = 1 ] && grep -q "$want" "$WORK/pxc.out" && [ ! -e "$WORK/pxebad/dnsmasq.conf" ] &&
		pass "pxeconf $args: refused ($want)" || fail "pxeconf $args: exit $RC: $(cat "$WORK/pxc.out")"
done
IPXE_DIR="$WORK/noipxe" "$PXC" "$WORK/pxebad" -subnet 198.18.0.0/24 -server 198.18.0.11 >"$WORK/pxc.out" 2>&1
RC=$?
[ $RC = 1 ] && grep -q 'install Debian.s ipxe package' "$WORK/pxc.out" && [ ! -e "$WORK/pxebad/tftp" ] &&
	pass "pxeconf without iPXE builds: refused, naming the package" || fail "pxeconf without iPXE: exit $RC: $(cat "$WORK/pxc.out")"
"$PXC" "$WORK/pxe" -subnet 198.18.0.0/24 -server 198.18.0.11 -http "$HP" >"$WORK/pxc.out" 2>&1 &&
	grep -qx 'dhcp-range=198.18.0.0,proxy,255.255.255.0' "$WORK/pxe/dnsmasq.conf" &&
	grep -q "chain --autofree http://198.18.0.11:$HP/boot.ipxe?mac=\${netX/mac}&" "$WORK/pxe/tftp/boot.ipxe" &&
	[ -s "$WORK/pxe/tftp/undionly.0" ] && [ -s "$WORK/pxe/tftp/snponly.efi" ] &&
	pass "pxeconf writes the proxy range, the chain to imgserv and iPXE" || fail "pxeconf: $(cat "$WORK/pxc.out")"
e2e_finish
