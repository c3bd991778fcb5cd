#!/bin/bash
# bench/capture.sh [--runs N] [--size small|large] [--workdir DIR] [--img PATH]
#
# Capture and restore of the GPT fixture disk (tests/fixtures/mkdisk.sh),
# img side by side with the pipelines Clonezilla and FOG users run today,
# per partition that partclone supports (ext4, ntfs, vfat), summed:
#
#   capture  partclone.<fs> -c -s PART -o - | pigz -1 -p NPROC > f
#            partclone.<fs> -c -s PART -o - | zstd -1 -T0 > f
#            partclone.<fs> -c -s PART -o - | zstd -3 -T0 > f
#            img -makel f -x=<other partitions> -disk=DISK
#   restore  pigz -dc f | partclone.<fs> -r -s - -o PART
#            zstd -dc f | partclone.<fs> -r -s - -o PART   (both zstd images)
#            img -restorel f -disk=DISK
#
# PART and DISK are loop devices of the fixture (capture) or of a fresh
# blank disk file (restore).  Before every step: sync and drop the page
# cache; every step ends with sync inside its timing.  Each step runs N
# times (default 3); the table shows medians of wall time, user+sys CPU,
# peak RSS of the largest process (GNU time %M) and the image size, with
# img's ratio to the fastest partclone pipeline.  The machine's limits are
# measured in the same run, medians of N: single-core `zstd -1` on the same
# used data times nproc (CPU bound of a capture), the same with the SHA-256
# that every chunk of ours carries (`openssl dgst -sha256`), `zstd -1 -T0`
# on all cores, and the direct-I/O read and write rates.
#
# Needs root.  Not part of the test suite.
set -eu
set -o pipefail
export LC_ALL=C.UTF-8

runs=3 size=large
top=$(cd "$(dirname "$0")/.." && pwd)
workdir=/var/tmp/img-bench
IMG=${IMG:-$top/build/img}
usage() { echo "usage: bench/capture.sh [--runs N] [--size small|large] [--workdir DIR] [--img PATH]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2;;
	--runs=*) runs=${1#*=}; shift;;
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2;;
	--size=*) size=${1#*=}; shift;;
	--workdir) [ $# -ge 2 ] || usage; workdir=$2; shift 2;;
	--img) [ $# -ge 2 ] || usage; IMG=$2; shift 2;;
	-h|--help) sed -n '2,27p' "$0"; exit 0;;
	*) usage;;
	esac
done
case $runs in ''|*[!0-9]*|0) usage;; esac
case $size in small|large) ;; *) usage;; esac

die() { echo "capture.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (loop devices, dropping the page cache)"
[ -x "$IMG" ] || die "no img binary at $IMG (build it: tools/setup)"
for t in partclone.extfs partclone.ntfs partclone.fat pigz zstd openssl losetup blkid python3; do
	command -v $t >/dev/null || die "missing tool $t"
done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (package time)"
ncpu=$(nproc)

fixtures=$top/tests/fixtures
mkdir -p "$workdir"
work=$(mktemp -d "$workdir/run.XXXXXX")
loops=()
cleanup() {
	local l
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# fixture, cached next to the runs, keyed by the fixture scripts
. "$top/bench/lib.sh"
bench_fixture "$workdir" "$size"

mkloop() { # mkloop FILE [OFFSET SIZE] -> LOOPDEV
	if [ $# = 3 ]; then LOOPDEV=$(losetup -f --show -o "$2" --sizelimit "$3" "$1")
	else LOOPDEV=$(losetup -f --show "$1"); fi
	loops+=("$LOOPDEV")
}
unloop() {
	local l
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	loops=()
}

cache_drop=1
dropcache() {
	sync
	if [ $cache_drop = 1 ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || {
			cache_drop=0
			echo "warning: cannot drop the page cache; timings include cached reads" >&2
		}
	fi
}

# partitions partclone supports: NUMBER OFFSET SIZE PCFS
parts=() others=()
bench_parts "$src"
for p in "${partlist[@]}"; do
	case $p in
	*" raw") others+=("${p%% *}");;
	*) parts+=("$p");;
	esac
done
[ ${#parts[@]} -gt 0 ] || die "no partclone-supported partitions in $src"
xopts=()
for n in "${others[@]}"; do xopts+=("-x=$n"); done

# used bytes (partclone's own maps) and the used data itself, for the
# machine-limit measurements
used=0
: >"$work/used.bin"
for p in "${parts[@]}"; do
	read -r n off len pc <<<"$p"
	mkloop "$src" "$off" "$len"
	partclone.$pc -D -q -L "$work/pc.log" -s "$LOOPDEV" -o "$work/p$n.map" >/dev/null 2>&1 ||
		die "partclone.$pc -D failed on partition $n"
	python3 - "$work/p$n.map" "$src" "$off" "$work/used.bin" >>"$work/used.sizes" <<'EOF'
import sys
ranges = []
for l in open(sys.argv[1]):
    w = l.split()
    if len(w) >= 3 and not l.startswith("#") and w[2] == "+":
        ranges.append((int(w[0], 16), int(w[1], 16)))
tot = 0
with open(sys.argv[2], "rb") as s, open(sys.argv[4], "ab") as o:
    for pos, n in ranges:
        s.seek(int(sys.argv[3]) + pos)
        while n > 0:
            b = s.read(min(n, 1 << 22)); o.write(b); n -= len(b); tot += len(b)
print(tot)
EOF
	unloop
done
used=$(awk '{s += $1} END {print s}' "$work/used.sizes")

# timed STEP NAME RUN CMD: run CMD under bash with pipefail, after a cache
# drop, sync included; append "name run wall cpu rss" to $work/times
timed() {
	local name=$1 run=$2
	shift 2
	dropcache
	if ! /usr/bin/time -f "%e %U %S %M" -o "$work/t" bash -o pipefail -c "$* && sync" \
		>"$work/step.out" 2>&1; then
		cat "$work/step.out" >&2
		die "step '$name' failed: $*"
	fi
	read -r wall u s rss <"$work/t"
	echo "$name $run $wall $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') $rss" >>"$work/times"
}

pcq="-q -L $work/pc.log"
for r in $(seq "$runs"); do
	echo "run $r of $runs ..." >&2
	# ---- capture
	for v in pigz1 zstd1 zstd3; do
		case $v in
		pigz1) comp="pigz -1 -p $ncpu";;
		zstd1) comp="zstd -q -1 -T0";;
		zstd3) comp="zstd -q -3 -T0";;
		esac
		cmd=""
		for p in "${parts[@]}"; do
			read -r n off len pc <<<"$p"
			mkloop "$src" "$off" "$len"
			cmd="$cmd partclone.$pc $pcq -c -s $LOOPDEV -o - | $comp > $work/$v.p$n &&"
		done
		timed "capture-partclone+$v" "$r" "${cmd% &&}"
		du -cb "$work/$v".p* | tail -1 | cut -f1 >"$work/size.$v"
		unloop
	done
	mkloop "$src"
	rm -f "$work/img.img"
	timed "capture-img" "$r" "$IMG -makel $work/img.img ${xopts[*]} -disk=$LOOPDEV"
	stat -c %s "$work/img.img" >"$work/size.img"
	unloop

	# ---- restore (onto a fresh blank disk file each time)
	for v in pigz1 zstd1 zstd3; do
		case $v in pigz1) dec="pigz -dc";; *) dec="zstd -q -dc";; esac
		rm -f "$work/dst.img"
		truncate -s "$disksize" "$work/dst.img"
		cmd=""
		for p in "${parts[@]}"; do
			read -r n off len pc <<<"$p"
			mkloop "$work/dst.img" "$off" "$len"
			cmd="$cmd $dec $work/$v.p$n | partclone.$pc $pcq -r -s - -o $LOOPDEV &&"
		done
		timed "restore-partclone+$v" "$r" "${cmd% &&}"
		unloop
	done
	rm -f "$work/dst.img"
	truncate -s "$disksize" "$work/dst.img"
	mkloop "$work/dst.img"
	timed "restore-img" "$r" "$IMG -restorel $work/img.img -disk=$LOOPDEV"
	unloop
	rm -f "$work/dst.img"
done

# ---- machine limits, same run, each the median of $runs measurements on
# the used data held in the page cache: single-core zstd -1 (the issue's
# bound, times nproc), zstd -1 on all cores (what zstd itself makes of the
# cores together), single-core SHA-256 through OpenSSL (the digest every
# chunk carries), then direct-I/O read and write rates
rate() { # rate CMD...: prints the bytes of used data per second CMD takes
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	python3 -c "print($used / ($t1 - $t0))"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
cat "$work/used.bin" >/dev/null
zr=() zar=() hr=() rr=() wr=()
for r in $(seq "$runs"); do
	zr+=("$(rate zstd -q -1 -T1 -c "$work/used.bin")")
	zar+=("$(rate zstd -q -1 -T0 -c "$work/used.bin")")
	hr+=("$(rate openssl dgst -sha256 "$work/used.bin")")
done
for r in $(seq "$runs"); do
	dropcache
	rr+=("$(rate dd if="$work/used.bin" of=/dev/null bs=4M iflag=direct status=none)")
	wr+=("$(rate dd if="$work/used.bin" of="$work/wtest" bs=4M oflag=direct conv=fsync status=none)")
	rm -f "$work/wtest"
done
zrate=$(median "${zr[@]}") zallrate=$(median "${zar[@]}") shrate=$(median "${hr[@]}")
rrate=$(median "${rr[@]}") wrate=$(median "${wr[@]}")

# ---- report
for v in pigz1 zstd1 zstd3 img; do echo "$v $(cat "$work/size.$v")"; done >"$work/sizes"
python3 - "$work/times" "$work/sizes" "$used" "$zrate" "$rrate" "$wrate" "$ncpu" "$runs" \
	"$size" "$cache_drop" "${#parts[@]}" "$zallrate" "$shrate" <<'EOF'
import statistics, sys
(times, sizes, used, zrate, rrate, wrate, ncpu, runs, size, dropped, nparts,
 zallrate, shrate) = sys.argv[1:]
used = int(used); zrate = float(zrate); rrate = float(rrate); wrate = float(wrate)
zallrate = float(zallrate); shrate = float(shrate)
ncpu = int(ncpu)
rows = {}
for l in open(times):
    name, run, wall, cpu, rss = l.split()
    r = rows.setdefault(name, {"wall": [], "cpu": [], "rss": []})
    r["wall"].append(float(wall)); r["cpu"].append(float(cpu)); r["rss"].append(int(rss))
sz = dict(l.split() for l in open(sizes))
MB = 1e6
def med(x): return statistics.median(x)
print()
print("img capture/restore benchmark: %s GPT fixture, %s partclone-supported partitions "
      "(ext4, ntfs, vfat), %.1f MB used, %d run(s), medians; %d CPUs; page cache %s"
      % (size, nparts, used / MB, int(runs), ncpu, "dropped before each step" if dropped == "1" else "NOT dropped"))
for op in ("capture", "restore"):
    names = [n for n in rows if n.startswith(op + "-")]
    pc = [n for n in names if "partclone" in n]
    fastest = min(pc, key=lambda n: med(rows[n]["wall"]))
    fw = med(rows[fastest]["wall"])
    print()
    print("%-26s %8s %8s %9s %10s %9s %12s" % (op, "wall s", "cpu s", "RSS MB", "image MB",
                                              "MB/s", "wall vs best"))
    for n in sorted(names, key=lambda n: ("img" not in n, n)):
        r = rows[n]
        key = "img" if n.endswith("img") else n.split("+")[-1]
        w = med(r["wall"])
        print("%-26s %8.2f %8.2f %9.1f %10.1f %9.1f %11.2fx%s" % (
            n.split("-", 1)[1], w, med(r["cpu"]), med(r["rss"]) / 1024,
            int(sz[key]) / MB, used / MB / w, w / fw, "  (fastest partclone)" if n == fastest else ""))
    img = med(rows[op + "-img"]["wall"])
    print("img vs fastest partclone pipeline (%s): %.2fx the time, %.2fx the speed"
          % (fastest.split("-", 1)[1], img / fw, fw / img))
print()
cap = min(zrate * ncpu, rrate)
# one core's rate at zstd -1 plus the SHA-256 of the same bytes
zsha = 1 / (1 / zrate + 1 / shrate)
capd = min(zsha * ncpu, rrate)
print("machine limits (same run, same used data, medians of %s):" % runs)
print("  zstd -1 single core     %8.1f MB/s  x %d CPUs = %.1f MB/s" % (zrate / MB, ncpu, zrate * ncpu / MB))
print("  zstd -1 -T0 (all CPUs)  %8.1f MB/s" % (zallrate / MB))
print("  SHA-256 single core     %8.1f MB/s" % (shrate / MB))
print("  zstd -1 + SHA-256 core  %8.1f MB/s  x %d CPUs = %.1f MB/s" % (zsha / MB, ncpu, zsha * ncpu / MB))
print("  direct-I/O read         %8.1f MB/s" % (rrate / MB))
print("  direct-I/O write+fsync  %8.1f MB/s" % (wrate / MB))
print("  capture bound min(zstd x CPUs, read) %.1f MB/s -> %.2f s for the used data"
      % (cap / MB, used / cap))
print("  bound with the digest min((zstd + SHA-256) x CPUs, read) %.1f MB/s -> %.2f s"
      % (capd / MB, used / capd))
w = med(rows["capture-img"]["wall"])
print("  img capture: %.1f MB/s = %.0f%% of the capture bound, %.0f%% of the bound with the digest,"
      % (used / w / MB, 100 * used / w / cap, 100 * used / w / capd))
print("               %.0f%% of zstd -1 -T0 alone on cached data" % (100 * used / w / zallrate))
w = med(rows["restore-img"]["wall"])
print("  img restore: %.1f MB/s = %.0f%% of the direct write rate" % (used / w / MB, 100 * used / w / wrate))
EOF
