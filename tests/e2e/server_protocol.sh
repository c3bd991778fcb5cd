#!/bin/bash
# Hostile and unauthorised requests: malformed and oversized frames close
# that connection with a status while the server goes on serving others;
# paths that escape the store are refused; writes without the site key,
# with a wrong key, or to a server with no key are refused with a message
# saying what to do; restore=key makes restores need the key.
. "$(dirname "$0")/lib.sh"
e2e_init server_protocol

copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
mkkey "$WORK/wrong"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
run_img -makep "$S" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload with the key"
want=$(sha "$WORK/srv/store/lab/a.img")

for c in "oversized 3" "bigctrl 3" "flags 1" "notfirst 1" "badattr 1" "type99 1" "garbage 3"; do
	set -- $c
	if python3 "$PROTOCLIENT" "$S" raw "$1" "$2" >"$WORK/raw" 2>&1; then
		pass "malformed first frame '$1': status $2 and the connection closed"
	else
		fail "malformed first frame '$1': $(tr '\n' ' ' <"$WORK/raw")"
	fi
done
python3 "$PROTOCLIENT" "$S" get lab/a.img 0 >"$WORK/g" 2>&1 && grep -q "$want" "$WORK/g" &&
	pass "server still serves after the malformed frames" || fail "server broken: $(cat "$WORK/g")"

# path escapes
ln -s /etc "$WORK/srv/store/etc-link"
mkdir -p "$WORK/outside"
cp "$WORK/srv/store/lab/a.img" "$WORK/outside/x.img"
ln -s "$WORK/outside/x.img" "$WORK/srv/store/lab/out.img"
for p in "../outside/x.img 7" "/etc/passwd 7" "lab/../lab/a.img 7" "etc-link/passwd 7" \
	"lab/out.img 7" "lab//a.img 7" "lab/./a.img 7"; do
	set -- $p
	if python3 "$PROTOCLIENT" "$S" get "$1" "$2" >"$WORK/g" 2>&1; then
		pass "GET '$1' refused: $(tail -1 "$WORK/g")"
	else
		fail "GET '$1': $(tr '\n' ' ' <"$WORK/g")"
	fi
done
run_img -makep "$S" ../escape.img -key="$WORK/key" -disk="$WORK/src.img"
expect_fail "upload to ../escape.img" "bad image path"
[ -e "$WORK/srv/escape.img" ] && fail "upload escaped the store" || pass "nothing written outside the store"
run_img -makep "$S" etc-link/evil.img -key="$WORK/key" -disk="$WORK/src.img"
expect_fail "upload through a symlink out of the store" "leads out of the store|bad image path"
[ -e /etc/evil.img ] && { rm -f /etc/evil.img; fail "upload went through the symlink"; } ||
	pass "nothing written through the symlink"

# authorisation
run_img -makep "$S" lab/b.img -disk="$WORK/src.img"
expect_fail "upload without a key" "site key required" "-key=FILE"
run_img -makep "$S" lab/b.img -key="$WORK/wrong" -disk="$WORK/src.img"
expect_fail "upload with the wrong key" "wrong site key"
[ -e "$WORK/srv/store/lab/b.img" ] && fail "unauthorised upload stored" || pass "unauthorised uploads stored nothing"
run_img -makep "$S" lab/b.img -key="$WORK/nokeyfile" -disk="$WORK/src.img"
expect_fail "upload with a missing key file" "cannot read site key"
head -c 5 /dev/urandom >"$WORK/short"
run_img -makep "$S" lab/b.img -key="$WORK/short" -disk="$WORK/src.img"
expect_fail "upload with a too short key" "16 to 4096 bytes"

# server state changes need the key too, also when asked directly
for c in "- 4" "$WORK/wrong 5"; do
	set -- $c
	if python3 "$PROTOCLIENT" "$S" workset "$1" 52:54:00:00:00:09 restore "$2" >"$WORK/ws" 2>&1; then
		pass "WORKSET with key '$(basename "$1")' refused with status $2"
	else
		fail "WORKSET with key '$(basename "$1")': $(tr '\n' ' ' <"$WORK/ws")"
	fi
done

srv_start "$WORK/nokey"
run_img -makep "127.0.0.1:$SRV_PORT" lab/b.img -key="$WORK/key" -disk="$WORK/src.img"
expect_fail "upload to a server without a key" "no site key" "key="
run_img -makep "127.0.0.1:$SRV_PORT" lab/b.img -disk="$WORK/src.img"
expect_fail "keyless upload to a server without a key" "no site key"

echo "restore = key" >"$WORK/keyed/imgserv.conf" 2>/dev/null || { mkdir -p "$WORK/keyed"; echo "restore = key" >"$WORK/keyed/imgserv.conf"; }
srv_start "$WORK/keyed" -key="$WORK/key"
K=127.0.0.1:$SRV_PORT
run_img -makep "$K" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload to the keyed server"
blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
blanksha=$(sha "$WORK/dst.img")
run_img -restorep "$K" lab/a.img -disk="$WORK/dst.img"
expect_fail "restore without the key from a restore=key server" "need the site key"
[ "$(sha "$WORK/dst.img")" = "$blanksha" ] &&
	pass "refused restore wrote nothing" || fail "refused restore wrote to the disk"
run_img -restorep "$K" lab/a.img -key="$WORK/key" -disk="$WORK/dst.img"
expect_rc 0 "restore with the key"
run_check "$WORK/src.img" "$WORK/dst.img"

# The first server counted every request, refused ones included: the
# upload, the GET after the malformed frames, 7 escaping GETs, 3 refused
# uploads and the failed AUTH (13), plus the two refused WORKSETs: the
# unauthenticated one is logged as work, not counted; the wrong key is a
# failed AUTH (14); malformed first frames are no
# requests, and missing or short key files never reached the server.
expect_stat "${S#*:}" "Update Requests" 14
e2e_finish
