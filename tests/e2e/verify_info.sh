#!/bin/bash
# -verify passes on good images; -imginfo lists the same partitions
# (numbers, filesystems) that -dump shows for the source disks; -dump
# numbers partitions as the tables do (MBR: 1 2 3 5 6; two disks: the
# second disk's partitions continue the count); -info works.
. "$(dirname "$0")/lib.sh"
e2e_init verify_info

copy_fixture gpt small "$WORK/gpt.img"
copy_fixture mbr small "$WORK/mbr.img"

run_img -info
expect_rc 0 "-info"

run_img -dump -disk="$WORK/gpt.img"
expect_rc 0 "dump GPT disk"
cp "$WORK/out" "$WORK/dump.gpt"
want=$(python3 "$CMPFS" parts "$WORK/gpt.img" | awk '{print $1}' | sort -n | tr '\n' ' ' | sed 's/ $//')
got=$(dump_numbers "$WORK/dump.gpt")
[ "$got" = "$want" ] && pass "GPT dump numbers '$got'" || fail "GPT dump numbers '$got', table has '$want'"
for fs in ntfs ext4 fat; do
	grep -qi "$fs" "$WORK/dump.gpt" && pass "GPT dump names $fs" || fail "GPT dump does not name $fs"
done

run_img -dump -disk="$WORK/mbr.img"
expect_rc 0 "dump MBR disk"
cp "$WORK/out" "$WORK/dump.mbr"
want=$(python3 "$CMPFS" parts "$WORK/mbr.img" | awk '{print $1}' | sort -n | tr '\n' ' ' | sed 's/ $//')
got=$(dump_numbers "$WORK/dump.mbr")
[ "$got" = "$want" ] && pass "MBR dump numbers '$got'" || fail "MBR dump numbers '$got', table has '$want'"
grep -qi swap "$WORK/dump.mbr" && pass "MBR dump names swap" || fail "MBR dump does not name swap"
grep -q SWAPLBL "$WORK/dump.mbr" && pass "MBR dump shows the swap label" || fail "MBR dump lacks label SWAPLBL"

# two disks: numbers are global, in disk order
run_img -dump -disk="$WORK/gpt.img" -disk="$WORK/mbr.img"
expect_rc 0 "dump two disks"
cp "$WORK/out" "$WORK/dump.two"
ngpt=$(python3 "$CMPFS" parts "$WORK/gpt.img" | wc -l)
nmbr=$(python3 "$CMPFS" parts "$WORK/mbr.img" | wc -l)
cnt=$(dump_numbers "$WORK/dump.two" | wc -w)
[ "$cnt" = $((ngpt + nmbr)) ] && pass "two-disk dump lists $cnt partitions" ||
	fail "two-disk dump lists $cnt partition lines, expected $((ngpt + nmbr))"
first=$(dump_numbers "$WORK/dump.two" | cut -d' ' -f1)
last=$(dump_numbers "$WORK/dump.two" | awk '{print $NF}')
[ "$first" = 1 ] && [ "$last" -gt "$ngpt" ] && pass "two-disk numbers run from 1 past the first disk ($last)" ||
	fail "two-disk dump numbers: $(dump_numbers "$WORK/dump.two")"

run_img -makel "$WORK/gpt.imgf" -disk="$WORK/gpt.img"
expect_rc 0 "make GPT image"
run_img -verify "$WORK/gpt.imgf"
expect_rc 0 "verify good GPT image"
run_img -imginfo "$WORK/gpt.imgf"
expect_rc 0 "imginfo"
cp "$WORK/out" "$WORK/info.gpt"
got=$(dump_numbers "$WORK/info.gpt")
want=$(dump_numbers "$WORK/dump.gpt")
[ "$got" = "$want" ] && pass "imginfo lists partitions '$got' as dump does" ||
	fail "imginfo lists partitions '$got', dump '$want'"
for fs in ntfs ext4 fat; do
	grep -qi "$fs" "$WORK/info.gpt" && pass "imginfo names $fs" || fail "imginfo does not name $fs"
done

run_img -makel "$WORK/two.imgf" -disk="$WORK/gpt.img" -disk="$WORK/mbr.img"
expect_rc 0 "make two-disk image"
run_img -verify "$WORK/two.imgf"
expect_rc 0 "verify two-disk image"
run_img -imginfo "$WORK/two.imgf"
expect_rc 0 "imginfo two-disk image"
cp "$WORK/out" "$WORK/info.two"
[ "$(dump_numbers "$WORK/info.two")" = "$(dump_numbers "$WORK/dump.two")" ] &&
	pass "two-disk imginfo numbers match dump" ||
	fail "two-disk imginfo numbers '$(dump_numbers "$WORK/info.two")', dump '$(dump_numbers "$WORK/dump.two")'"
e2e_finish
