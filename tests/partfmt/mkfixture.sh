#!/bin/sh
# mkfixture.sh - build one small real filesystem for test_partfmt and print
# what an independent tool says about it.
#
# usage: mkfixture.sh CASE DIR
# Creates DIR/CASE.fs and prints key=value lines on stdout:
#   fs=      expected r->fs          label=, uuid=  expected (blkid -p)
#   raw=     1 when pf_scan must fall back to raw capture
#   note=    substring the raw note must contain (may be empty)
#   used=    expected used bytes from e2fsck / fsck.fat / ntfscluster
#   length=  partition length when it must differ from the file size
#   notused= a byte offset that must not be captured
#   prep=    a step test_partfmt.c does itself (ntfs-dirty)
# Exit 77 with the reason on stderr when a tool or feature is missing.
set -eu
# Its own private mount namespace: the NTFS cases fill the volume through
# ntfs-3g (FUSE), and a copy of that mount in the namespace of another
# test's `ip netns exec` would keep the volume from being finished at
# umount (the tests run in parallel).
if [ "$(id -u)" = 0 ] && [ -z "${MKFIXTURE_MNTNS:-}" ] && unshare -m true 2>/dev/null; then
	MKFIXTURE_MNTNS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

case_=$1
dir=$2
fs=$dir/$case_.fs
src=$dir/src
export MTOOLS_SKIP_CHECK=1
export LC_ALL=C

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || {
			echo "mkfixture: $t not found" >&2
			exit 77
		}
	done
}

blkval() {
	blkid -p -o value -s "$1" "$fs" 2>/dev/null || true
}

# Some files with incompressible content, a directory, an empty file.
mksrc() {
	[ -d "$src" ] && return 0
	mkdir -p "$src/sub/deeper"
	head -c 300000 /dev/urandom >"$src/a.bin"
	head -c 1234567 /dev/urandom >"$src/sub/b.bin"
	head -c 5000 /dev/urandom >"$src/sub/deeper/c.bin"
	: >"$src/empty"
	echo hello >"$src/hello.txt"
}

# used bytes = (used blocks) * block size, computed by e2fsck's own scan
ext_used() {
	out=$(e2fsck -fn "$fs" 2>&1) || {
		echo "mkfixture: e2fsck -fn failed on $fs:" >&2
		echo "$out" >&2
		exit 1
	}
	ub=$(echo "$out" | sed -n 's#.* \([0-9][0-9]*\)/[0-9][0-9]* blocks.*#\1#p')
	bs=$(dumpe2fs -h "$fs" 2>/dev/null | sed -n 's/^Block size: *//p')
	echo "used=$((ub * bs))"
}

# used bytes = everything before the data area + used clusters - bad ones
fat_used() {
	nbad=${1:-0}
	out=$(fsck.fat -n -v "$fs" 2>&1) || {
		echo "mkfixture: fsck.fat failed on $fs:" >&2
		echo "$out" >&2
		exit 1
	}
	data=$(echo "$out" | sed -n 's/^Data area starts at byte \([0-9]*\).*/\1/p')
	cb=$(echo "$out" | sed -n 's/^ *\([0-9]*\) bytes per cluster.*/\1/p')
	uc=$(echo "$out" | sed -n 's#.* \([0-9][0-9]*\)/[0-9][0-9]* clusters$#\1#p')
	echo "used=$((data + (uc - nbad) * cb))"
}

# used bytes = volume bytes - free bytes + the backup boot sector, which
# mkntfs puts in the file's last sector, outside the volume and $Bitmap
ntfs_used() {
	out=$(ntfscluster -f "$fs" 2>&1) || {
		echo "mkfixture: ntfscluster failed on $fs" >&2
		exit 1
	}
	vol=$(echo "$out" | sed -n 's/^bytes per volume *: *//p')
	free=$(echo "$out" | sed -n 's/^bytes of free space *: *//p')
	echo "used=$((vol - free + 512))"
}

# Fill an NTFS image through the FUSE driver when this host can; an empty
# volume is still a valid fixture otherwise.
ntfs_fill() {
	mnt=$dir/mnt.$case_
	mkdir -p "$mnt"
	if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] &&
	   ntfs-3g "$fs" "$mnt" 2>/dev/null; then
		cp -r "$src/." "$mnt/" && sync
		[ -n "${1:-}" ] && "$1" "$mnt"
		umount "$mnt"
		echo "filled=1"
	else
		echo "filled=0"
	fi
	rmdir "$mnt"
}

hiberfile() {
	{ printf 'hibr'; head -c 8188 /dev/zero; } >"$1/hiberfil.sys"
}

ids() {
	echo "label=$(blkval LABEL)"
	echo "uuid=$(blkval UUID)"
}

rm -f "$fs"
case $case_ in
ext4)
	need mkfs.ext4 e2fsck dumpe2fs blkid
	mksrc
	truncate -s 64M "$fs"
	mkfs.ext4 -q -F -b 4096 -L extlbl -d "$src" "$fs"
	echo "fs=ext4"; echo "raw=0"; ids; ext_used
	;;
ext3)
	need mke2fs e2fsck dumpe2fs blkid
	mksrc
	truncate -s 32M "$fs"
	mke2fs -q -F -t ext3 -L e3lbl -d "$src" "$fs"
	echo "fs=ext3"; echo "raw=0"; ids; ext_used
	;;
ext2-1k)
	need mke2fs e2fsck dumpe2fs blkid
	mksrc
	truncate -s 16M "$fs"
	mke2fs -q -F -t ext2 -b 1024 -L e2lbl -d "$src" "$fs"
	echo "fs=ext2"; echo "raw=0"; ids; ext_used
	;;
ext4-recover)
	need mkfs.ext4 debugfs blkid
	truncate -s 32M "$fs"
	mkfs.ext4 -q -F "$fs"
	debugfs -w -R "feature needs_recovery" "$fs" >/dev/null 2>&1
	echo "fs=ext4"; echo "raw=1"; echo "note=journal recovery"; ids
	;;
ext4-errors)
	need mkfs.ext4 debugfs blkid
	truncate -s 32M "$fs"
	mkfs.ext4 -q -F "$fs"
	debugfs -w -R "ssv state 3" "$fs" >/dev/null 2>&1
	echo "fs=ext4"; echo "raw=1"; echo "note=errors"; ids
	;;
ext4-unclean)
	need mkfs.ext4 debugfs blkid
	truncate -s 32M "$fs"
	mkfs.ext4 -q -F "$fs"
	debugfs -w -R "ssv state 0" "$fs" >/dev/null 2>&1
	echo "fs=ext4"; echo "raw=1"; echo "note=cleanly"; ids
	;;
ext4-corrupt)
	need mkfs.ext4 blkid
	truncate -s 32M "$fs"
	mkfs.ext4 -q -F -b 4096 "$fs"
	# overwrite the group descriptor table (block 1) with 0xff
	head -c 4096 /dev/zero | tr '\000' '\377' |
		dd of="$fs" bs=4096 seek=1 conv=notrunc status=none
	echo "fs=ext4"; echo "raw=1"; echo "note=group descriptors"; ids
	;;
ext4-trunc)
	need mkfs.ext4 blkid
	truncate -s 64M "$fs"
	mkfs.ext4 -q -F "$fs"
	echo "fs=ext4"; echo "raw=1"; echo "note=do not fit"; ids
	echo "length=$((32 * 1024 * 1024))"
	;;
ntfs)
	need mkntfs ntfscluster ntfs-3g blkid
	mksrc
	truncate -s 64M "$fs"
	mkntfs -F -Q -L ntlbl "$fs" >/dev/null 2>&1
	ntfs_fill
	echo "fs=ntfs"; echo "raw=0"; ids; ntfs_used
	;;
ntfs-dirty)
	need mkntfs blkid
	truncate -s 32M "$fs"
	mkntfs -F -Q "$fs" >/dev/null 2>&1
	echo "fs=ntfs"; echo "raw=1"; echo "note=dirty"; ids
	echo "prep=ntfs-dirty"
	;;
ntfs-corrupt)
	need mkntfs ntfsinfo blkid
	truncate -s 32M "$fs"
	mkntfs -F -Q -c 4096 "$fs" >/dev/null 2>&1
	# overwrite $MFTMirr: blkid still sees NTFS, mounting must fail
	mirr=$(ntfsinfo -m -f "$fs" 2>/dev/null |
		sed -n 's/.*LCN of Data Attribute for File_MFTMirr: *//p')
	[ -n "$mirr" ] || { echo "mkfixture: no \$MFTMirr LCN" >&2; exit 1; }
	head -c 4096 /dev/zero | tr '\000' '\377' |
		dd of="$fs" bs=4096 seek="$mirr" conv=notrunc status=none
	echo "fs=ntfs"; echo "raw=1"; echo "note=ntfs: cannot open"; ids
	;;
ntfs-hiber)
	need mkntfs ntfs-3g blkid
	mksrc
	truncate -s 32M "$fs"
	mkntfs -F -Q "$fs" >/dev/null 2>&1
	if [ "$(ntfs_fill hiberfile)" != "filled=1" ]; then
		echo "mkfixture: cannot mount NTFS through FUSE here" >&2
		exit 77
	fi
	echo "fs=ntfs"; echo "raw=1"; echo "note=hibernated"; ids
	;;
vfat12|vfat16|vfat32)
	need mkfs.vfat mcopy mmd fsck.fat blkid
	mksrc
	bits=${case_#vfat}
	case $bits in
	12) size=4M; opt="" ;;
	16) size=32M; opt="" ;;
	32) size=64M; opt="-S 512 -s 1" ;;
	esac
	truncate -s $size "$fs"
	# shellcheck disable=SC2086
	mkfs.vfat -F "$bits" $opt -n "FAT${bits}LBL" "$fs" >/dev/null
	mmd -i "$fs" ::/sub ::/sub/deeper
	mcopy -i "$fs" "$src/a.bin" "$src/hello.txt" "$src/empty" ::/
	mcopy -i "$fs" "$src/sub/deeper/c.bin" ::/sub/deeper/
	[ "$bits" = 12 ] || mcopy -i "$fs" "$src/sub/b.bin" ::/sub/
	echo "fs=vfat"; echo "raw=0"; ids; fat_used
	;;
vfat-bad)
	need mkfs.vfat mcopy fsck.fat blkid
	mksrc
	truncate -s 16M "$fs"
	echo 3000 >"$dir/bad.lst"
	# 1 KiB clusters, so bad 1 KiB block 3000 is exactly one cluster
	mkfs.vfat -F 16 -s 2 -l "$dir/bad.lst" "$fs" >/dev/null 2>&1
	mcopy -i "$fs" "$src/a.bin" ::/
	echo "fs=vfat"; echo "raw=0"; ids; fat_used 1
	echo "notused=$((3000 * 1024))"
	;;
vfat-trunc)
	need mkfs.vfat blkid
	truncate -s 32M "$fs"
	mkfs.vfat -F 16 "$fs" >/dev/null
	echo "fs=vfat"; echo "raw=1"; echo "note=do not fit"; ids
	echo "length=$((16 * 1024 * 1024))"
	;;
swap)
	need mkswap blkid
	truncate -s 8M "$fs"
	mkswap -L swlbl "$fs" >/dev/null 2>&1
	echo "fs=swap"; echo "raw=0"; ids; echo "used=4096"
	;;
swap-16k)
	need mkswap blkid
	truncate -s 8M "$fs"
	mkswap -p 16384 -L sw16 "$fs" >/dev/null 2>&1
	echo "fs=swap"; echo "raw=0"; ids; echo "used=16384"
	;;
minix)
	need mkfs.minix
	truncate -s 8M "$fs"
	mkfs.minix "$fs" >/dev/null
	echo "fs=minix"; echo "raw=1"; echo "note=has no handler"
	;;
garbage)
	head -c 8M /dev/urandom >"$fs"
	echo "fs=raw"; echo "raw=1"; echo "note=no filesystem"
	;;
zero)
	truncate -s 8M "$fs"
	echo "fs=raw"; echo "raw=1"; echo "note=no filesystem"
	;;
*)
	echo "mkfixture: unknown case $case_" >&2
	exit 2
	;;
esac
