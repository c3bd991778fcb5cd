#!/bin/bash
# -x=N leaves partition N (the NTFS one, number taken from img -dump) out:
# the image is smaller than the full one, the restore leaves that
# partition's bytes on the target exactly as they were (a pattern), and
# every other partition, the tables and the boot areas are restored.
. "$(dirname "$0")/lib.sh"
e2e_init exclude

copy_fixture gpt small "$WORK/src.img"
run_img -dump -disk="$WORK/src.img"
expect_rc 0 "dump"
cp "$WORK/out" "$WORK/dump"
n=$(dump_number_of "$WORK/dump" ntfs)
[ -n "$n" ] || fatal "no ntfs partition line in img -dump output: $(head -c 400 "$WORK/dump")"
tn=$(python3 "$CMPFS" parts "$WORK/src.img" | while read -r pn ps pz pt; do
	[ "$(blkid -p -O "$ps" -o value -s TYPE "$WORK/src.img" 2>/dev/null)" = ntfs ] && echo "$pn"; done | head -1)
[ "$n" = "$tn" ] && pass "dump numbers the NTFS partition $n as the table does" ||
	fail "dump numbers the NTFS partition $n, the table $tn"

run_img -makel "$WORK/full.img" -disk="$WORK/src.img"
expect_rc 0 "make full image"
run_img -makel "$WORK/excl.img" -x="$n" -disk="$WORK/src.img"
expect_rc 0 "make image with -x=$n"
[ -s "$WORK/excl.img" ] && [ -s "$WORK/full.img" ] || fatal "images missing"
fs_=$(fsize "$WORK/full.img") es=$(fsize "$WORK/excl.img")
used=$(awk -v n="$n" '$1 == n' "$WORK/dump")
note "full image $fs_ bytes, with -x=$n $es bytes; dump line: $used"
# the NTFS partition holds ~20 MB of used data: the image must shrink by
# at least a few MB, whatever the compression
if [ $((fs_ - es)) -gt $((4 * 1024 * 1024)) ]; then
	pass "image without partition $n is smaller by $((fs_ - es)) bytes"
else
	fail "image with -x=$n ($es bytes) not clearly smaller than the full image ($fs_)"
fi

pattern "$WORK/dst.img" "$(fsize "$WORK/src.img")"
off=$(part_field "$WORK/src.img" "$tn" start) len=$(part_field "$WORK/src.img" "$tn" size)
before=$(region_sha "$WORK/dst.img" "$off" "$len")
run_img -restorel "$WORK/excl.img" -disk="$WORK/dst.img"
expect_rc 0 "restore image made with -x=$n"
after=$(region_sha "$WORK/dst.img" "$off" "$len")
[ "$before" = "$after" ] && pass "excluded partition $n left as it was" ||
	fail "excluded partition $n was written to"
run_check "$WORK/src.img" "$WORK/dst.img" --skip "$tn"
e2e_finish
