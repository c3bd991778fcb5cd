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

# samedisk A B: byte-identical but for the image-safe data area (bytes
# 1044480-1048575); reads only the data extents of the two sparse files
samedisk() {
	python3 - "$1" "$2" <<'PYEOF'
import os, sys
fa, fb = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(fa).st_size
if os.fstat(fb).st_size != size:
    sys.exit(1)
def extents(fd):
    pos, res = 0, []
    while pos < size:
        try:
            d = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        res.append((d, h)); pos = h
    return res
merged = []
for a, b in sorted(extents(fa) + extents(fb)):
    if merged and a <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], b)
    else:
        merged.append([a, b])
skip = (1044480, 1048576)
CH = 1 << 24
ba, bb = bytearray(CH), bytearray(CH)
ma, mb = memoryview(ba), memoryview(bb)
for a, b in merged:
    pos = a
    while pos < b:
        n = min(b - pos, CH)
        ra = os.preadv(fa, [ma[:n]], pos); rb = os.preadv(fb, [mb[:n]], pos)
        if ra != n or rb != n:
            sys.exit(1)
        if (ba != bb) if n == CH else (ba[:n] != bb[:n]):
            lo, hi = max(pos, skip[0]) - pos, min(pos + n, skip[1]) - pos
            if lo >= hi or ba[:lo] != bb[:lo] or ba[hi:n] != bb[hi:n]:
                sys.exit(1)
        pos += n
PYEOF
}
