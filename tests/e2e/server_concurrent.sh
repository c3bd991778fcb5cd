#!/bin/bash
# Many clients at once: 32 simultaneous downloads (an independent protocol
# client) all receive the exact image while two stalled clients hold their
# connections; then 4 simultaneous img -restorep onto disks pass check.sh
# while 2 img -makep upload at the same time.
. "$(dirname "$0")/lib.sh"
e2e_init server_concurrent

copy_fixture gpt small "$WORK/src.img"
mkkey "$WORK/key"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
run_img -makep "$S" lab/a.img -key="$WORK/key" -disk="$WORK/src.img"
expect_rc 0 "upload the image"
want=$(sha "$WORK/srv/store/lab/a.img")

# two stalled clients: one mid-upload, one idle after HELLO
python3 "$PROTOCLIENT" "$S" put-hold "$WORK/key" lab/stalled.img "$WORK/srv/store/lab/a.img" 100000 25 >"$WORK/hold1" 2>&1 &
h1=$!
python3 "$PROTOCLIENT" "$S" hold 25 >/dev/null 2>&1 &
h2=$!
sleep 1
if python3 "$PROTOCLIENT" "$S" many-get lab/a.img 32 "$want" >"$WORK/many" 2>&1; then
	pass "$(head -1 "$WORK/many")"
else
	fail "32 parallel downloads: $(tr '\n' ' ' <"$WORK/many" | head -c 400)"
fi

pids=()
for i in 1 2 3 4; do
	blank "$WORK/dst$i.img" "$(fsize "$WORK/src.img")"
	"$IMG" -restorep "$S" lab/a.img -disk="$WORK/dst$i.img" >"$WORK/r$i.out" 2>&1 &
	pids+=($!)
done
for i in 1 2; do
	"$IMG" -makep "$S" lab/up$i.img -key="$WORK/key" -disk="$WORK/src.img" >"$WORK/m$i.out" 2>&1 &
	pids+=($!)
done
n=0
for p in "${pids[@]}"; do
	n=$((n + 1))
	if wait "$p"; then pass "concurrent job $n exit 0"; else fail "concurrent job $n failed: $(tail -2 "$WORK/"*"$n.out" 2>/dev/null | tr '\n' ' ')"; fi
done
for i in 1 2 3 4; do run_check "$WORK/src.img" "$WORK/dst$i.img"; done
for i in 1 2; do
	run_img -verify "$WORK/srv/store/lab/up$i.img"
	expect_rc 0 "concurrent upload $i verifies"
done
kill "$h1" "$h2" 2>/dev/null
wait "$h1" "$h2" 2>/dev/null
[ -f "$WORK/srv/store/lab/stalled.img" ] && fail "the stalled upload became an image" ||
	pass "the stalled, dropped upload left no image"
expect_stat "$SRV_PORT" "Images Sent" 36
e2e_finish
