#!/bin/bash
# A capture that fails half-way (the image's filesystem runs full) exits 1
# with a message about the space, and the good image already stored under
# that name is left intact (it still verifies); no temporary file remains.
. "$(dirname "$0")/lib.sh"
e2e_init bad_nospace

copy_fixture gpt small "$WORK/src.img"
run_img -makel "$WORK/good.img" -disk="$WORK/src.img"
expect_rc 0 "make image"
[ -s "$WORK/good.img" ] || fatal "no image written"
gsize=$(fsize "$WORK/good.img")

# a small tmpfs: room for the good image and 4 MiB more
mkdir "$WORK/store"
mount -t tmpfs -o size=$((gsize + 4 * 1024 * 1024)) tmpfs "$WORK/store" ||
	skip "cannot mount a tmpfs"
E2E_MOUNTS+=("$WORK/store")
cp "$WORK/good.img" "$WORK/store/disk.img" || fatal "copy into tmpfs"
goodsha=$(sha "$WORK/store/disk.img")

run_img -makel "$WORK/store/disk.img" -disk="$WORK/src.img"
expect_fail "capture into a full filesystem" 'space|ENOSPC|full'
[ "$(sha "$WORK/store/disk.img")" = "$goodsha" ] && pass "existing image intact" ||
	fail "existing image damaged by the failed capture"
run_img -verify "$WORK/store/disk.img"
expect_rc 0 "existing image still verifies"
left=$(ls -A "$WORK/store" | grep -vx disk.img | tr '\n' ' ')
[ -z "$left" ] && pass "no temporary file left behind" || fail "left behind in the image directory: $left"

# a new name: the failed capture must not leave a partial image under it
run_img -makel "$WORK/store/new.img" -disk="$WORK/src.img"
expect_fail "new capture into a full filesystem" 'space|ENOSPC|full'
[ -e "$WORK/store/new.img" ] && fail "partial image left as $WORK/store/new.img" || pass "no partial new image"
e2e_finish
