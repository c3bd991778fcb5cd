#!/bin/bash
# Image-safe data (img -zisedit, img -info zisd): a record written on the
# source disk is not carried by its image (the boot-area chunk's digest is
# that of the gap with the area blanked), a whole restore onto a disk with
# its own record keeps that record's name and network and records the
# image as the last one, -ap keeps it too, a blank target gets a fresh
# record without a name; fsck, trees, used blocks and tables still match
# (check.sh leaves the area out).  Bad KEY=VALUE is a usage error (2); a
# disk whose area holds other data, or whose first partition starts at
# sector 63, is refused (1) with nothing written.
. "$(dirname "$0")/lib.sh"
e2e_init isd

AREA=1044480 AREALEN=4096

# field NAME: the value of "NAME: value" in the last img output
field() { sed -n "s/^$1: //p" "$WORK/out"; }
expect_field() { # expect_field NAME VALUE WHAT
	local got
	got=$(field "$1")
	if [ "$got" = "$2" ]; then pass "$3: $1 is '$2'"
	else fail "$3: $1 is '$got', expected '$2'"; fi
}

copy_fixture gpt small "$WORK/src.img"
run_img -info zisd -disk="$WORK/src.img"
expect_rc 0 "-info zisd on a disk without a record"
expect_field "Image-safe data" none "fixture disk"

run_img -zisedit name=lab-src net=static ip=198.18.0.10 mask=255.255.255.0 \
	gateway=198.18.0.1 dns=198.18.0.2,198.18.0.3 -disk="$WORK/src.img"
expect_rc 0 "-zisedit on the source"
run_img -info zisd -disk="$WORK/src.img"
expect_rc 0 "-info zisd on the source"
expect_field Name lab-src "source"
expect_field Network static "source"
expect_field "IP address" 198.18.0.10 "source"
expect_field "DNS servers" 198.18.0.2,198.18.0.3 "source"
srcsha=$(sha "$WORK/src.img")

run_img -makel "$WORK/disk.img" -disk="$WORK/src.img"
expect_rc 0 "capture"
[ -s "$WORK/disk.img" ] || fatal "no image written"
[ "$(sha "$WORK/src.img")" = "$srcsha" ] && pass "capture left the source unchanged" ||
	fail "capture modified the source disk"

# The boot area (GPT entries to 1 MiB) is one chunk; its SHA-256 is in the
# chunk record in the clear.  It must be the digest of the gap with the
# area zeroed, and the digest of the gap as it is on disk must be absent.
read -r gs gl < <(python3 "$CMPFS" gap "$WORK/src.img")
if [ "$((gs + gl))" = 1048576 ]; then
	got=$(python3 - "$WORK/src.img" "$gs" "$gl" "$WORK/disk.img" "$AREA" "$AREALEN" <<'EOF'
import hashlib, sys
src, gs, gl, img, area, alen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
with open(src, "rb") as f:
    f.seek(gs)
    gap = bytearray(f.read(gl))
as_is = hashlib.sha256(gap).digest()
gap[area - gs:area - gs + alen] = bytes(alen)
blanked = hashlib.sha256(gap).digest()
data = open(img, "rb").read()
print(("blanked" if blanked in data else "-") + " " + ("as-is" if as_is in data else "-"))
EOF
)
	[ "$got" = "blanked -" ] && pass "the image's boot area holds zeros where the source's record is" ||
		fail "boot-area chunk digests in the image: '$got', expected 'blanked -'"
else
	fail "fixture gap $gs+$gl does not end at 1 MiB"
fi

# A blank target gets a fresh record that names only the image.
blank "$WORK/dst1.img" "$(fsize "$WORK/src.img")"
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst1.img"
expect_rc 0 "restore onto a blank disk"
run_img -info zisd -disk="$WORK/dst1.img"
expect_field "Image-safe data" yes "blank target"
expect_field Name "(none)" "blank target (not the source's lab-src)"
expect_field Network "(none)" "blank target"
expect_field "Last image" "$WORK/disk.img" "blank target"
run_check "$WORK/src.img" "$WORK/dst1.img"

# A target with its own record keeps it through a whole restore.
copy_fixture gpt small "$WORK/dst2.img"
run_img -zisedit name=lab-dst net=dhcp pending=1 -disk="$WORK/dst2.img"
expect_rc 0 "-zisedit on the target"
t0=$(date +%s)
run_img -restorel "$WORK/disk.img" -disk="$WORK/dst2.img"
expect_rc 0 "whole restore onto the target"
run_img -info zisd -disk="$WORK/dst2.img"
expect_field Name lab-dst "target after restore"
expect_field Network dhcp "target after restore"
expect_field "IP address" "(none)" "target after restore"
expect_field "Pending work" yes "target after restore"
expect_field "Last image" "$WORK/disk.img" "target after restore"
when=$(field "Last imaged" | sed -n 's/.*(\([0-9]*\))$/\1/p')
if [ -n "$when" ] && [ "$when" -ge "$t0" ] && [ "$when" -le "$(date +%s)" ]; then
	pass "last imaged at the restore's time ($when)"
else
	fail "last imaged '$(field "Last imaged")', restore began at $t0"
fi
run_check "$WORK/src.img" "$WORK/dst2.img"

# -ap leaves the record alone but for the last image.
ln "$WORK/disk.img" "$WORK/second.img"
run_img -restorel "$WORK/second.img" -ap=a2:p2 -disk="$WORK/dst2.img"
expect_rc 0 "restore -ap=a2:p2"
run_img -info zisd -disk="$WORK/dst2.img"
expect_field Name lab-dst "target after -ap"
expect_field "Last image" "$WORK/second.img" "target after -ap"

# Bad values: usage errors, nothing written.
before=$(region_sha "$WORK/dst2.img" $AREA $AREALEN)
run_img -zisedit name=lab_dst! -disk="$WORK/dst2.img"
expect_rc 2 "bad name"
expect_err 'name=lab_dst!: a name has only letters' "bad name"
run_img -zisedit ip=198.18.0 -disk="$WORK/dst2.img"
expect_rc 2 "bad address"
expect_err 'ip=198.18.0: not a dotted IPv4' "bad address"
run_img -zisedit net=static -disk="$WORK/dst2.img"
expect_rc 2 "static without an address"
expect_err 'needs ip and mask' "static without an address"
run_img -zisedit colour=blue -disk="$WORK/dst2.img"
expect_rc 2 "unknown key"
run_img -info zisd extra -disk="$WORK/dst2.img"
expect_rc 2 "-info with two words"
[ "$(region_sha "$WORK/dst2.img" $AREA $AREALEN)" = "$before" ] &&
	pass "refused edits wrote nothing" || fail "a refused edit changed the area"

# The area holds data that is not ours: refused, untouched.
pattern "$WORK/dst3.img" $((8 << 20))
printf 'label: gpt\nstart=2048, size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
	sfdisk -q --no-reread --no-tell-kernel "$WORK/dst3.img" >/dev/null 2>&1 || fatal "sfdisk dst3"
before=$(region_sha "$WORK/dst3.img" $AREA $AREALEN)
run_img -zisedit name=lab-3 -disk="$WORK/dst3.img"
expect_fail "area holding other data" "dst3.img.*not free.*other data"
[ "$(region_sha "$WORK/dst3.img" $AREA $AREALEN)" = "$before" ] &&
	pass "foreign bytes left as they were" || fail "foreign bytes in the area were overwritten"
run_img -info zisd -disk="$WORK/dst3.img"
expect_rc 0 "-info zisd on foreign bytes"
expect_field "Image-safe data" none "foreign bytes"

# An old MBR layout with the first partition at sector 63.
blank "$WORK/old.img" $((8 << 20))
printf 'label: dos\nstart=63, size=16000, type=83\n' |
	sfdisk -q --no-reread --no-tell-kernel "$WORK/old.img" >/dev/null 2>&1 || fatal "sfdisk old"
[ "$(part_field "$WORK/old.img" 1 start)" = 32256 ] || fatal "old.img: partition 1 not at sector 63"
run_img -zisedit name=lab-old -disk="$WORK/old.img"
expect_fail "partition at sector 63" "old.img.*partition 1 starts at byte 32256 \(sector 63\), before 1 MiB"
zeros=$(head -c $AREALEN /dev/zero | sha256sum | cut -d' ' -f1)
[ "$(region_sha "$WORK/old.img" $AREA $AREALEN)" = "$zeros" ] &&
	pass "sector-63 disk untouched" || fail "sector-63 disk written"
e2e_finish
