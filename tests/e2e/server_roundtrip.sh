#!/bin/bash
# img -makep to a real imgserv and img -restorep from it: the restored disk
# passes check.sh; the server's statistics and request log (text and XML)
# match what happened; the stored image is the same bytes img -makel
# writes for the same disk (the stream travels unchanged).
. "$(dirname "$0")/lib.sh"
e2e_init server_roundtrip

copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key" -s:lab-server-1
S=127.0.0.1:$SRV_PORT
[ "$(srv_stat "$SRV_PORT" Server)" = lab-server-1 ] && pass "-s: names the server" ||
	fail "server name is '$(srv_stat "$SRV_PORT" Server)'"

run_img -makep "$S" lab/win.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "img -makep to the server"
[ -f "$WORK/srv/store/lab/win.img" ] && pass "image stored as store/lab/win.img" ||
	fail "no store/lab/win.img"
ls -a "$WORK/srv/store/lab" | grep -q '^\.img-upload' &&
	fail "temporary upload file left in the store" || pass "no temporary file left"
run_img -verify "$WORK/srv/store/lab/win.img"
expect_rc 0 "the stored image verifies"
run_img -makel "$WORK/local.img" -disk="$WORK/src.img"
a=$(run_img -imginfo "$WORK/local.img"; grep -c . "$WORK/out")
b=$(run_img -imginfo "$WORK/srv/store/lab/win.img"; grep -c . "$WORK/out")
[ "$(fsize "$WORK/local.img")" = "$(fsize "$WORK/srv/store/lab/win.img")" ] &&
	pass "stored image has the size of the local one ($(fsize "$WORK/local.img") bytes)" ||
	fail "stored $(fsize "$WORK/srv/store/lab/win.img") bytes, local $(fsize "$WORK/local.img")"

blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -restorep "$S" lab/win.img -disk="$WORK/dst.img"
expect_rc 0 "img -restorep from the server"
run_check "$WORK/src.img" "$WORK/dst.img"

run_img -restorep "$S" lab/nothere.img -disk="$WORK/dst.img"
expect_fail "restore of a missing image" "no image 'lab/nothere.img'"

expect_stat "$SRV_PORT" "Update Requests" 3
expect_stat "$SRV_PORT" "Images Received" 1
expect_stat "$SRV_PORT" "Images Sent" 1
expect_stat "$SRV_PORT" "Client Referrals" 0
expect_stat "$SRV_PORT" "Active Transfers" 0

"$IMGSERV" -log -state="$WORK/srv/state" -conf=/dev/null >"$WORK/log.txt" || fail "imgserv -log"
sed 's/^/#   /' "$WORK/log.txt"
grep -Eq '  put  lab/win.img  [0-9]+  ok' "$WORK/log.txt" && pass "log: the upload, ok" ||
	fail "log has no ok put record"
grep -Eq '  get  lab/win.img  [0-9]+  ok' "$WORK/log.txt" && pass "log: the restore, ok" ||
	fail "log has no ok get record"
grep -Eq '  get  lab/nothere.img  .*failed' "$WORK/log.txt" && pass "log: the failed request" ||
	fail "log has no failed record for the missing image"
"$IMGSERV" -log -xml -state="$WORK/srv/state" -conf=/dev/null >"$WORK/log.xml" || fail "imgserv -log -xml"
if python3 - "$WORK/log.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
reqs = r.findall("request")
assert r.tag == "imglog", r.tag
assert [q.get("type") for q in reqs] == ["put", "get", "get"], [q.get("type") for q in reqs]
assert reqs[0].get("result") == "ok" and reqs[2].get("result") == "failed"
assert int(reqs[1].get("bytes")) > 0
PY
then pass "XML log parses and lists the three requests"; else fail "XML log wrong"; fi
e2e_finish
