# bench/lib.sh - shared by the benchmarks.  Source it after setting $top
# and defining die().

# bench_fixture DIR SIZE [ALTDIR]: sets src to the GPT fixture of SIZE,
# cached in DIR and keyed by the fixture scripts' checksum (a copy cached
# in ALTDIR by another benchmark is used when present), building it with
# tests/fixtures/mkdisk.sh on first use; sets disksize.
bench_fixture() {
	local dir=$1 size=$2 alt=${3:-} fx=$top/tests/fixtures key
	key=$(cat "$fx/mkdisk.sh" "$fx/gentree.py" | sha256sum | cut -c1-12)
	src="$dir/gpt-$size-$key.img"
	if [ ! -f "$src" ] && [ -n "$alt" ] && [ -f "$alt/gpt-$size-$key.img" ]; then
		src="$alt/gpt-$size-$key.img"
	elif [ ! -f "$src" ]; then
		rm -f "$dir/gpt-$size-"*.img
		echo "building the $size GPT fixture ..." >&2
		"$fx/mkdisk.sh" gpt "$src.tmp" "$size" || die "mkdisk.sh failed"
		mv "$src.tmp" "$src"
	fi
	disksize=$(stat -c %s "$src")
}

# bench_parts DISK: sets the array partlist to "NUMBER OFFSET SIZE TOOL"
# per partition, TOOL the partclone flavour (extfs, ntfs, fat) or raw.
bench_parts() {
	local n off len fs
	partlist=()
	while read -r n off len _; do
		fs=$(blkid -p -O "$off" -o value -s TYPE "$1" 2>/dev/null || true)
		case $fs in
		ext2|ext3|ext4) partlist+=("$n $off $len extfs");;
		ntfs) partlist+=("$n $off $len ntfs");;
		vfat) partlist+=("$n $off $len fat");;
		*) partlist+=("$n $off $len raw");;
		esac
	done < <(python3 "$top/tests/fixtures/cmpfs.py" parts "$1")
}
