#!/bin/bash
# -ap=a3:p3 restores image partition 3 (NTFS) into the target's existing
# partition 3: that partition then equals the source's (fsck, tree, used
# blocks), and nothing outside it changes - not the table (the target has
# its own GUIDs), not the other partitions, not the boot areas.
. "$(dirname "$0")/lib.sh"
e2e_init restore_into_partition

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/disk.img" ] || fatal "no image written"

# target: same layout, its own disk and partition GUIDs, old data everywhere
pattern "$WORK/dst.img" "$(fsize "$WORK/src.img")"
sfdisk -d "$WORK/src.img" | sed -e '/^label-id:/d' -e '/^device:/d' -e 's/uuid=[^,]*, *//' \
	-e 's/name="[^"]*"/name="target"/' >"$WORK/layout"
sfdisk -q --no-reread --no-tell-kernel "$WORK/dst.img" <"$WORK/layout" >/dev/null 2>&1 ||
	fatal "cannot partition the target"
off=$(part_field "$WORK/dst.img" 3 start) len=$(part_field "$WORK/dst.img" 3 size)
before=$(outside_sha "$WORK/dst.img" "$off" "$len")

run_img -restorel "$WORK/disk.img" -ap=a3:p3 -disk="$WORK/dst.img"
expect_rc 0 "restore -ap=a3:p3"
after=$(outside_sha "$WORK/dst.img" "$off" "$len")
[ "$before" = "$after" ] && pass "nothing outside target partition 3 changed" ||
	fail "bytes outside target partition 3 changed (table or other partitions written)"
run_check "$WORK/src.img" "$WORK/dst.img" --only 3
e2e_finish
