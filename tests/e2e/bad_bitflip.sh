#!/bin/bash
# One flipped bit inside a chunk's payload (stored and compressed images):
# -verify and -restorel exit 1 with a message naming the chunk and the
# digest/corruption; the restore never reports success.
. "$(dirname "$0")/lib.sh"
e2e_init bad_bitflip

copy_fixture gpt small "$WORK/src.img"
size=$(fsize "$WORK/src.img")
for c in 0 1; do
	run_img -makel "$WORK/good$c.img" -comp=$c -disk="$WORK/src.img"
	expect_rc 0 "make image -comp=$c"
	[ -s "$WORK/good$c.img" ] || fatal "no image written"
	img_records "$WORK/good$c.img" >"$WORK/records"
	# the middle chunk with a payload of some size, the middle of its payload
	at=$(awk '$2 == "CHNK" && $3 > $4 + 4096 { c[n++] = $1 + 24 + $4 + int(($3 - $4) / 2) }
		END { if (n) print c[int(n / 2)] }' "$WORK/records")
	[ -n "$at" ] || fatal "no CHNK record with payload found in the -comp=$c image (format changed?)"
	cp "$WORK/good$c.img" "$WORK/flip.img"
	python3 - "$WORK/flip.img" "$at" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0x10]))
PY
	note "flipped bit 4 of byte $at of $(fsize "$WORK/flip.img") (-comp=$c)"
	cmp -s "$WORK/good$c.img" "$WORK/flip.img" && fatal "bit flip did not change the file"
	run_img -verify "$WORK/good$c.img"
	expect_rc 0 "verify intact -comp=$c image (control)"
	run_img -verify "$WORK/flip.img"
	expect_fail "verify flipped -comp=$c image" 'chunk' 'digest|corrupt'
	blank "$WORK/dst.img" "$size"
	run_img -restorel "$WORK/flip.img" -disk="$WORK/dst.img"
	expect_fail "restore flipped -comp=$c image" 'chunk' 'digest|corrupt'
	[ "$RC" != 0 ] || fail "restore of a corrupt -comp=$c image reported success"
	rm -f "$WORK/dst.img"
done
e2e_finish
