#!/bin/bash
# The menu, driven in tmux (80x25) against fixture disk files: make an
# image of a GPT disk into a local file through "Make an image", restore it
# onto a blank disk through "Restore an image", and check the result with
# check.sh as the engine tests do.  Then a restore with an -ap mapping
# chosen in the form; an image made onto imgserv and restored by a rule
# through "Automatic imaging"; a restore refused for a missing image file
# (the error on screen, nothing written); a make and a restore cancelled
# (Esc, then y): what the outcome says about the file or disk is true.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/menu_lib.sh"
e2e_init menu_roundtrip tmux
menu_init

copy_fixture gpt small "$WORK/src.img"
srcsha=$(sha "$WORK/src.img")
size=$(fsize "$WORK/src.img")

# ---- make an image through the menu
menu_start mk -- -disk=src.img
menu_need mk "Main menu" 20 "make: main menu"
menu_expect mk "Disks: src\.img" 5 "make: the main menu names the -disk= disk"
# cancelled first: the keys Esc and y wait in the terminal before the job
# starts, so its first poll for a cancel finds them
menu_keys mk 2
menu_need mk "Make the image +< Local file >" 10 "cancelled make: the form"
menu_keys mk Down
menu_type mk disk.img
menu_keys mk Down Down Enter
menu_need mk "Make an image of src\.img" 60 "cancelled make: the question"
menu_keys mk y Escape y
menu_need mk "CANCELLED\. No image was stored" 60 "cancelled make: the outcome says so"
menu_expect mk "disk\.img is not created\." 5 \
	"cancelled make: the outcome says what happened to the file"
menu_keys mk Enter
menu_need mk "Main menu" 10 "cancelled make: back"
[ ! -e "$WORK/disk.img" ] && [ ! -e "$WORK/disk.img.partial" ] &&
	pass "cancelled make: neither disk.img nor disk.img.partial exists" ||
	fail "cancelled make left $(ls "$WORK" | grep disk.img)"
menu_keys mk 2
menu_need mk "Make the image +< Local file >" 10 "make: the form"
menu_keys mk Down
menu_type mk disk.img
menu_keys mk Down Down Enter
menu_need mk "Make an image of src\.img \(4 partitions" 60 "make: the question names the disk"
menu_keys mk y
menu_need mk "Done\. Image disk\.img made" 120 "make: done"
menu_expect mk "Captured [0-9.]+ [KMG]iB of used data" 5 "make: the summary"
menu_keys mk Enter
menu_quit mk
[ -s "$WORK/disk.img" ] && pass "the image file exists" || fatal "no image written"
[ "$(sha "$WORK/src.img")" = "$srcsha" ] && pass "source disk unchanged by capture" ||
	fail "capture modified the source disk"
run_img -verify "$WORK/disk.img"
expect_rc 0 "the menu's image verifies on the command line"

# ---- restore it onto a blank disk through the menu
blank "$WORK/dst.img" "$size"
menu_start rs -- -disk=dst.img
menu_need rs "Main menu" 20 "restore: main menu"
menu_keys rs 3
menu_need rs "Restore from +< Local file >" 10 "restore: the form"
menu_keys rs Down
menu_type rs disk.img
menu_keys rs Down Down Enter
menu_need rs "Restore disk\.img onto dst\.img\?" 30 "restore: the question names image and disk"
menu_expect rs "EVERYTHING on this disk will be LOST" 5 "restore: the question says what is lost"
menu_keys rs y
menu_need rs "Done\. disk\.img restored onto dst\.img" 120 "restore: done"
menu_keys rs Enter
menu_quit rs
run_check "$WORK/src.img" "$WORK/dst.img"

# ---- into a partition (-ap) chosen in the form: image partition 4 (ext4)
# into partition 4 of a copy of the source whose p4 lost its first MiB
cp --sparse=always "$WORK/src.img" "$WORK/ap.img"
p4s=$(part_field "$WORK/src.img" 4 start)
dd if=/dev/zero of="$WORK/ap.img" bs=1M seek=$((p4s / 1048576)) count=1 conv=notrunc status=none
menu_start ap -- -disk=ap.img
menu_need ap "Main menu" 20 "-ap: main menu"
menu_keys ap 3 Down
menu_type ap disk.img
menu_keys ap Down Right Down
menu_need ap "Mapping" 10 "-ap: the mapping field appears for partitions"
menu_type ap "a4-p4"
menu_expect ap "'a4-p4' is not aN:pM" 10 "-ap: a bad mapping is refused as typed"
menu_keys ap C-u
menu_type ap "a4:p4"
menu_keys ap Down Enter
menu_need ap "into partition p4 of ap\.img\?" 30 "-ap: the question names the partition"
menu_keys ap y
menu_need ap "Done\." 120 "-ap: done"
menu_keys ap Enter
menu_quit ap
run_check "$WORK/src.img" "$WORK/ap.img" --only 4

# ---- onto the imaging server, then automatic imaging restores it by rule
mkkey "$WORK/key"
M1=52:54:00:aa:00:07
mkdir -p "$WORK/srv"
echo "rule = mac=$M1 action=restore path=lab/m.img" >"$WORK/srv/imgserv.conf"
srv_start "$WORK/srv" -key="$WORK/key"
S=127.0.0.1:$SRV_PORT
menu_start net -- -disk=src.img
menu_need net "Main menu" 20 "server: main menu"
menu_keys net 2 Right
menu_need net "Path on the server" 10 "server: the form asks for the server's path"
menu_keys net Down
menu_type net lab/m.img
menu_keys net Down C-u
menu_type net "$S"
menu_keys net Down
menu_type net key
menu_keys net Down Down Enter
menu_need net "Make an image of src\.img" 60 "server: the question"
menu_expect net "127\.0\.0\.1:$SRV_PORT as lab/m\.img\?" 5 "server: the question names server and path"
menu_keys net y
menu_need net "Done\. Image 127\.0\.0\.1:$SRV_PORT:lab/m\.img made" 120 "server: done"
menu_keys net Enter
menu_quit net
blank "$WORK/auto.img" "$size"
menu_start net -- -disk=auto.img
menu_need net "Main menu" 10 "auto: main menu"
menu_keys net 1
menu_need net "Report MAC first" 10 "auto: the form"
menu_keys net C-u
menu_type net "$S"
menu_keys net Down Down
menu_type net "52:54:00:aa:00"
menu_expect net "A MAC address is six hex pairs" 5 "auto: a short MAC is refused as typed"
menu_type net ":07"
menu_keys net Down Enter
menu_need net "Ask 127\.0\.0\.1:$SRV_PORT for this workstation's work" 10 "auto: the question"
menu_expect net "may restore an image onto auto\.img" 5 "auto: the question names the disk"
menu_keys net y
menu_need net "Done\. restore lab/m\.img on 127\.0\.0\.1:$SRV_PORT" 120 "auto: restored by rule"
menu_keys net Enter
menu_quit net
[ "$(outside_sha "$WORK/auto.img" 1044480 4096)" = "$(outside_sha "$WORK/dst.img" 1044480 4096)" ] &&
	pass "auto: the disk equals the one restored from the file (image-safe data aside)" ||
	fail "auto: the disk differs from the one restored from the file"

# ---- a missing image: the error on screen, the disk untouched
pattern "$WORK/pat.img" $((64 << 20))
patsha=$(sha "$WORK/pat.img")
menu_start bad -- -disk=pat.img
menu_need bad "Main menu" 20 "missing image: main menu"
menu_keys bad 3 Down
menu_type bad nonexistent.img
menu_keys bad Down Down Enter
menu_expect bad "FAILED: .*nonexistent\.img" 20 "missing image: the error names the file"
menu_keys bad Enter
[ "$(sha "$WORK/pat.img")" = "$patsha" ] && pass "missing image: the disk is untouched" ||
	fail "missing image: the disk was written"

# ---- a cancelled restore: the outcome's word on the disk is true
truncate -s "$size" "$WORK/pat.img"
patsha=$(sha "$WORK/pat.img")
menu_need bad "Main menu" 10 "cancelled restore: main menu"
menu_keys bad 3 Down
menu_type bad disk.img
menu_keys bad Down Down Enter
menu_need bad "Restore disk\.img onto pat\.img\?" 30 "cancelled restore: the question"
menu_keys bad y Escape y
menu_need bad "CANCELLED\." 60 "cancelled restore: the outcome says cancelled"
if menu_wait bad "Nothing was written: pat\.img is as it was" 1; then
	[ "$(sha "$WORK/pat.img")" = "$patsha" ] && pass "cancelled restore: nothing written, as it says" ||
		fail "cancelled restore: says nothing was written, but the disk changed"
elif menu_wait bad "was partly written and is INCOMPLETE" 1; then
	[ "$(sha "$WORK/pat.img")" != "$patsha" ] && pass "cancelled restore: partly written, as it says" ||
		fail "cancelled restore: says partly written, but the disk is unchanged"
else
	fail "cancelled restore: the outcome does not say what state the disk is in"
	menu_show bad
fi
menu_keys bad Enter
menu_quit bad
e2e_finish
