#!/bin/bash
# Truncated images are refused with exit 1 and a message about the
# truncation: cut inside the file header, inside the HEAD record, in the
# middle of a chunk's payload, just before the trailer, one byte short.
# -verify and -restorel both fail; for cuts in the header the target is
# left untouched.
. "$(dirname "$0")/lib.sh"
e2e_init bad_truncated

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"
run_img -verify "$WORK/good.img"
expect_rc 0 "verify intact image (control)"

img_records "$WORK/good.img" >"$WORK/records"
sed 's/^/#   record /' "$WORK/records" | head -5
total=$(fsize "$WORK/good.img")
head_end=$(awk '$2 == "HEAD" { print $1 + 24 + $3 }' "$WORK/records")
# a chunk from the middle of the stream, cut half-way through its payload
mid=$(awk '$2 == "CHNK" && $3 > $4 + 4096 { c[n++] = $1 + 24 + $4 + int(($3 - $4) / 2) }
	END { if (n) print c[int(n / 2)] }' "$WORK/records")
trl=$(awk '$2 == "TRLR" { print $1 }' "$WORK/records")
[ -n "$head_end" ] && [ -n "$mid" ] && [ -n "$trl" ] ||
	fatal "cannot find HEAD, a CHNK with payload and TRLR in the image (format changed?)"

size=$(fsize "$WORK/src.img")
pattern "$WORK/dst.img" "$size"
clean=$(sha "$WORK/dst.img")
TRUNC='truncat|ends (before|early|unexpectedly)|unexpected end|short|incomplete|premature|(no|missing) trailer'

for cut in "10:file header" "$((head_end / 2)):HEAD record" "$mid:mid-chunk payload" \
	"$trl:before the trailer" "$((total - 1)):one byte short"; do
	at=${cut%%:*} what=${cut#*:}
	head -c "$at" "$WORK/good.img" >"$WORK/cut.img"
	note "cut at $at of $total ($what)"
	run_img -verify "$WORK/cut.img"
	expect_fail "verify, cut in $what" "$TRUNC"
	run_img -restorel "$WORK/cut.img" -disk="$WORK/dst.img"
	expect_fail "restore, cut in $what" "$TRUNC"
	if [ "$at" -le "$head_end" ]; then
		[ "$(sha "$WORK/dst.img")" = "$clean" ] && pass "target untouched after cut in $what" ||
			fail "target written although the image was cut in $what"
	fi
	# never a success, even when the cut leaves a plausible end
	[ "$RC" != 0 ] || fail "restore of an image cut in $what reported success"
	pattern "$WORK/dst.img" "$size"
done
e2e_finish
