#!/bin/bash
# Uploads that go wrong never damage the image already stored under that
# name, leave no temporary file, and give the client a clear error:
# a client killed mid-upload, the server killed mid-upload (its leftover is
# swept at the next start), a corrupt stream, a full store (a small tmpfs),
# a capture that fails after the upload began (its ABORT reason is logged).
. "$(dirname "$0")/lib.sh"
e2e_init server_failures

copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
run_img -makep "$S" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "first upload"
good=$(sha "$WORK/srv/store/lab/a.img")
cp "$WORK/srv/store/lab/a.img" "$WORK/a.img"
size=$(fsize "$WORK/a.img")
leftovers() { find "$WORK/srv/store" -name '.img-upload-*' | wc -l; }
# settled: no upload in progress (the server removes an abandoned one's
# temporary file when it notices, in its own time)
settled() { [ "$(leftovers)" = 0 ]; }
uploading() { [ "$(leftovers)" != 0 ]; }
intact() { # intact WHAT
	[ "$(sha "$WORK/srv/store/lab/a.img")" = "$good" ] && pass "$1: stored image intact" ||
		fail "$1: stored image changed"
	[ "$(leftovers)" = 0 ] && pass "$1: no temporary file left" ||
		fail "$1: $(leftovers) temporary files left in the store"
}

# 1. the client dies half-way
python3 "$PROTOCLIENT" "$S" put-partial "$WORK/key" lab/a.img "$WORK/a.img" $((size / 2)) >"$WORK/p1" 2>&1 ||
	fail "partial upload client: $(cat "$WORK/p1")"
wait_until 30 settled
intact "client dropped half-way"
expect_line "$WORK/srv/log" 'put lab/a.img: failed' 30 "server logged the failed upload"

# 1b. the capture itself fails after the server accepted the upload:
# img sends ABORT with its reason, which the server logs
run_img -makep "$S" lab/a.img -key="$WORK/key" -disk="$WORK/no-such-disk.img"
expect_fail "capture of a missing disk onto the server" "no-such-disk"
expect_line "$WORK/srv/log" 'put lab/a.img: failed: the client gave up: .*no-such-disk' 30 \
	"server logged the client's reason for giving up (the ABORT reason)"
wait_until 30 settled
intact "capture failed after the upload began"

# 2. img itself killed during an upload of a large stream
copy_fixture gpt large "$WORK/big.img"
"$IMG" -makep "$S" lab/a.img -key="$WORK/key" -disk="$WORK/big.img" -comp=9 >"$WORK/k.out" 2>&1 &
kp=$!
wait_until 30 uploading
sleep 0.3   # well into the upload
kill -9 "$kp" 2>/dev/null
wait "$kp" 2>/dev/null
wait_until 30 settled
intact "img killed during upload"

# 3. a corrupt stream (one byte flipped inside the chunk data)
if python3 "$PROTOCLIENT" "$S" put-corrupt "$WORK/key" lab/a.img "$WORK/a.img" $((size / 2)) >"$WORK/p3" 2>&1; then
	pass "corrupt upload refused: $(tail -1 "$WORK/p3")"
else
	fail "corrupt upload: $(cat "$WORK/p3")"
fi
intact "corrupt stream"

# 4. the server killed during an upload; the next start sweeps the leftover
python3 "$PROTOCLIENT" "$S" put-hold "$WORK/key" lab/a.img "$WORK/a.img" 200000 30 >/dev/null 2>&1 &
hp=$!
wait_until 30 uploading
[ "$(leftovers)" != 0 ] && pass "upload in progress is a temporary file" ||
	fail "no temporary file during the upload"
kill -9 "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
kill "$hp" 2>/dev/null
wait "$hp" 2>/dev/null
[ "$(sha "$WORK/srv/store/lab/a.img")" = "$good" ] && pass "server killed: stored image intact" ||
	fail "server killed: stored image changed"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
intact "server restarted"
expect_line "$WORK/srv/log" 'removed unfinished uploads' 30 "restart says it swept the leftover"
blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
run_img -restorep "$S" lab/a.img -disk="$WORK/dst.img"
expect_rc 0 "restore after all that"
run_check "$WORK/src.img" "$WORK/dst.img"

# 5. a full store: a tmpfs too small for the image
mkdir -p "$WORK/small/store/lab"
mount -t tmpfs -o size=$((size / 4096 / 2 * 4096)) tmpfs "$WORK/small/store" || fatal "mount tmpfs"
E2E_MOUNTS+=("$WORK/small/store")
mkdir -p "$WORK/small/store/lab"
head -c 1000 /dev/urandom >"$WORK/small/store/lab/a.img"
old=$(sha "$WORK/small/store/lab/a.img")
srv_start "$WORK/small" -key="$WORK/key"
run_img -makep "127.0.0.1:$SRV_PORT" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_fail "upload into a full store" "store (is )?full" "keeps its previous image"
[ "$(sha "$WORK/small/store/lab/a.img")" = "$old" ] && pass "full store: previous file intact" ||
	fail "full store: previous file changed"
[ "$(find "$WORK/small/store" -name '.img-upload-*' | wc -l)" = 0 ] &&
	pass "full store: no temporary file left" || fail "full store: temporary file left"
e2e_finish
