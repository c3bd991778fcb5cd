#!/bin/bash
# The menu's Partitions and Information screens, driven in tmux (80x25) on
# a copy of the MBR fixture (p1 ext4 active, p2 extended with p5 FAT16 and
# p6 swap, p3 unformatted): the listing as img -dump shows it; delete p3
# (the question names the disk and what is lost) and create an 8 MiB Linux
# partition in its place, checked with sfdisk (the other partitions
# unchanged, the new one MiB-aligned, the table valid); make p3 active
# (p1 loses the mark); edit the image-safe data (a bad name refused as
# typed), checked with img -info zisd; and the hardware screen.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/menu_lib.sh"
e2e_init menu_parts tmux sfdisk
menu_init

copy_fixture mbr small "$WORK/mbr.img"
parts() { sfdisk -d "$WORK/mbr.img" | sed -n "s|^$WORK/mbr.img\([0-9]*\) *: *|\1 |p"; }
before=$(parts)
note "before: $(echo "$before" | tr '\n' ';')"

# item NUMBER: the menu digit of the line listing partition NUMBER
item() { menu_screen pt | sed -n "s/^ *\([1-9]\)\. $1 .*/\1/p" | head -1; }

menu_start pt -- -disk=mbr.img
menu_need pt "Main menu" 20 "main menu"
menu_keys pt 5
menu_need pt "Show all disks and partitions" 10 "the partitions screen"
menu_keys pt 1
menu_need pt "Disk 1: mbr\.img .* table msdos" 30 "the listing shows the disk as -dump does"
menu_expect pt "^ +6 +137216 +8\.0 MiB +0x82 +swap" 5 "the listing shows the swap partition"
menu_keys pt Enter
menu_need pt "Edit the partitions of mbr\.img" 10 "back on the partitions screen"
menu_keys pt 2
menu_need pt "Disk mbr\.img .* table msdos" 30 "the disk's partitions"
menu_expect pt "^ *1 +2048 .* ext4 .* active" 5 "p1 is listed active"

# ---- delete p3
menu_keys pt 2
menu_need pt "Delete which partition" 10 "delete: the list"
k=$(item 3)
[ -n "$k" ] || { menu_show pt; fatal "partition 3 is not in the list"; }
menu_keys pt "$k"
menu_need pt "Delete partition 3 of mbr\.img\?" 10 "delete: the question names disk and partition"
menu_expect pt "It holds no known filesystem, 8\.0 MiB.*EVERYTHING" 5 "delete: the question says what is lost"
menu_keys pt n
menu_need pt "Disk mbr\.img" 20 "delete: No goes back"
[ "$(parts)" = "$before" ] && pass "No: the table is unchanged" || fail "No: the table changed"
menu_keys pt 2
menu_need pt "Delete which partition" 10 "delete: the list again"
menu_keys pt "$(item 3)"
menu_need pt "Delete partition 3 of mbr\.img\?" 10 "delete: the question again"
menu_keys pt y
menu_expect pt "Done\. Partition 3 deleted from mbr\.img" 20 "delete: done"
menu_keys pt Enter
after=$(parts)
echo "$after" | grep -q '^3 ' && fail "sfdisk still shows partition 3" || pass "sfdisk: partition 3 is gone"
[ "$(echo "$after")" = "$(echo "$before" | grep -v '^3 ')" ] &&
	pass "sfdisk: partitions 1, 2, 5, 6 unchanged" || fail "sfdisk: other partitions changed: $after"

# ---- create an 8 MiB Linux partition
menu_need pt "Disk mbr\.img" 20 "create: the partitions screen"
menu_keys pt 1
menu_need pt "Size in MiB" 10 "create: the form"
menu_type pt 8x
menu_expect pt "Size in MiB: a whole number" 5 "create: a bad size is refused as typed"
menu_keys pt BSpace Down Down Enter
menu_need pt "Create a linux partition of 8 MiB on mbr\.img" 10 "create: the question"
menu_keys pt y
menu_expect pt "Done\. Partition 3 \(linux\) created on mbr\.img" 20 "create: done"
menu_keys pt Enter
new=$(parts | grep '^3 ')
note "new: $new"
if [[ "$new" =~ start=\ *([0-9]+),\ size=\ *([0-9]+),\ type=83 ]] &&
	[ "${BASH_REMATCH[2]}" = 16384 ] && [ $((BASH_REMATCH[1] % 2048)) = 0 ]; then
	pass "sfdisk: partition 3 is 8 MiB, type 83, MiB-aligned"
else
	fail "sfdisk: partition 3 is not an aligned 8 MiB Linux partition: $new"
fi
[ "$(parts | grep -v '^3 ')" = "$(echo "$before" | grep -v '^3 ')" ] &&
	pass "sfdisk: the other partitions are unchanged" || fail "sfdisk: others changed"
sfdisk -V "$WORK/mbr.img" >/dev/null 2>&1 && pass "sfdisk -V: the table is valid" ||
	fail "sfdisk -V: $(sfdisk -V "$WORK/mbr.img" 2>&1 | tr '\n' ' ')"

# ---- make p3 active
menu_need pt "Disk mbr\.img" 20 "active: the partitions screen"
menu_expect pt "^ *3 +[0-9]+ +8\.0 MiB +0x83" 5 "the new partition is listed"
menu_keys pt 3
menu_need pt "Make which partition active" 10 "active: the list"
menu_keys pt "$(item 3)"
menu_need pt "Make partition 3 of mbr\.img the active" 10 "active: the question"
menu_keys pt y
menu_expect pt "Done\. Partition 3 of mbr\.img is active" 20 "active: done"
menu_keys pt Enter
parts | grep -q '^3 .*bootable' && pass "sfdisk: partition 3 is bootable" ||
	fail "sfdisk: partition 3 is not bootable"
parts | grep -q '^1 .*bootable' && fail "sfdisk: partition 1 is still bootable" ||
	pass "sfdisk: partition 1 lost the mark"
menu_need pt "Disk mbr\.img" 20 "the partitions screen"
menu_keys pt 4
menu_need pt "Edit the partitions of mbr\.img" 10 "back"
menu_keys pt Escape

# ---- information: image-safe data and hardware
menu_need pt "Main menu" 10 "main menu"
menu_keys pt 6
menu_need pt "Edit the image-safe data" 10 "the information screen"
menu_keys pt 3
menu_need pt "Workstation name" 10 "the image-safe data form"
menu_type pt "lab pc"
menu_expect pt "name" 5 "a bad name is refused as typed"
menu_screen pt | sed -n '/Workstation name/,$p' | grep -Eiq "letters|invalid|name.*'lab pc'" &&
	pass "the message about the name is on screen" || { fail "no message about the bad name"; menu_show pt; }
menu_keys pt C-u
menu_type pt lab-pc-07
menu_keys pt Down Right
menu_expect pt "Network +< dhcp >" 5 "network: dhcp"
menu_keys pt Down Down Down Down Down Down Enter
menu_need pt "Done\. Written to mbr\.img" 20 "the image-safe data written"
menu_keys pt Enter
menu_keys pt 2
menu_expect pt "Name: lab-pc-07" 10 "the image-safe data screen shows the name"
menu_keys pt Enter
menu_keys pt 1
menu_expect pt "CPU: " 10 "the hardware screen"
menu_keys pt Enter
menu_need pt "What an image file holds" 10 "the information screen again"
menu_keys pt 5
menu_quit pt
run_img -info zisd -disk="$WORK/mbr.img"
grep -q "^Name: lab-pc-07" "$WORK/out" && pass "img -info zisd: name lab-pc-07" ||
	fail "img -info zisd: $(tr '\n' ' ' <"$WORK/out")"
grep -qi "^Net.*dhcp" "$WORK/out" && pass "img -info zisd: dhcp" || fail "img -info zisd: no dhcp"
e2e_finish
