#!/bin/bash
# -comp=0, 6 and 9 each round-trip exactly (check.sh), each verifies, and
# the image sizes are ordered: none > 6 >= 9.
. "$(dirname "$0")/lib.sh"
e2e_init compression

copy_fixture gpt small "$WORK/src.img"
declare -A size
for c in 0 6 9; do
	run_img -makel "$WORK/c$c.img" -comp=$c -disk="$WORK/src.img"
	expect_rc 0 "make image -comp=$c"
	[ -s "$WORK/c$c.img" ] || fatal "no image for -comp=$c"
	size[$c]=$(fsize "$WORK/c$c.img")
	run_img -verify "$WORK/c$c.img"
	expect_rc 0 "verify -comp=$c image"
	blank "$WORK/dst.img" "$(fsize "$WORK/src.img")"
	run_img -restorel "$WORK/c$c.img" -disk="$WORK/dst.img"
	expect_rc 0 "restore -comp=$c image"
	run_check "$WORK/src.img" "$WORK/dst.img"
	rm -f "$WORK/dst.img"
done
note "sizes: comp0 ${size[0]}, comp6 ${size[6]}, comp9 ${size[9]}"
[ "${size[0]}" -gt "${size[6]}" ] && pass "-comp=0 image (${size[0]}) larger than -comp=6 (${size[6]})" ||
	fail "-comp=0 image (${size[0]}) not larger than -comp=6 (${size[6]})"
[ "${size[6]}" -ge "${size[9]}" ] && pass "-comp=6 image (${size[6]}) not smaller than -comp=9 (${size[9]})" ||
	fail "-comp=9 image (${size[9]}) larger than -comp=6 (${size[6]})"
# stored: at least the used bytes the filesystems report (partclone maps
# are not needed: the text data alone compresses by far more than 10%)
[ $((size[0] * 9 / 10)) -gt "${size[6]}" ] && pass "-comp=6 saves more than 10% over -comp=0" ||
	fail "-comp=6 (${size[6]}) saves less than 10% over -comp=0 (${size[0]})"
e2e_finish
