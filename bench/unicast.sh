#!/bin/bash
# bench/unicast.sh [--runs N] [--size small|large] [--clients N] [--workdir DIR]
#                  [--port N] [--img PATH] [--imgserv PATH]
#
# Unicast restore from the imaging server over TCP loopback, img side by
# side with how Clonezilla/FOG users move a partclone image over the
# network today, on the GPT fixture disk (tests/fixtures/mkdisk.sh), same
# data, same run:
#
#   img      imgserv serves the image (uploaded once with img -makep);
#            img -restorep 127.0.0.1:PORT lab/x.img -disk=LOOP
#   nc       images made once per partition: partclone.<fs> -c | zstd -1 -T0
#            and | pigz -1 (raw partitions: dd), plus the table and boot
#            bytes (sgdisk --backup, MBR boot code, the gap before the first
#            partition) as a tar; each served by its own `nc -N -l`; the
#            receiver runs  nc -d | tar -x; sgdisk --load-backup; dd boot
#            code and gap; partx -u; then per partition
#            nc -d | zstd -dc | partclone.<fs> -r -s - -o LOOPpN  (pigz -dc)
#   FOG's own transport (NFS) is not measured: it needs the kernel NFS
#   server.  netcat over TCP is the Clonezilla/udpcast-style unicast path.
#
# Every target is a fresh blank file of the source's size on a loop device
# (-P for the partition nodes).  Before every timed step: sync and drop
# the page cache; every step ends with an fsync of its own target devices
# inside its timing.  Measured: wall time, user+sys CPU and peak RSS of
# the whole receiving side (GNU time), and the sending side's CPU (imgserv:
# utime+stime deltas from /proc/PID/stat; nc: bash `times`).
#   single       one restore, each method, N runs (default 3), medians
#   concurrent   --clients N (default 8) simultaneous restores from one
#                imgserv, and N simultaneous nc|zstd|partclone pipelines:
#                aggregate MB/s (N x used data / wall of the slowest),
#                per-client wall min/median/max and fairness (max/min)
# Each method's first single restore is checked with tests/fixtures/check.sh
# (not timed); every other restored disk must be byte-identical to that one
# (the image-safe data area, bytes 1044480-1048575, left out).  Ends with
# `imgserv -status`.  Never asserts timings: exits non-zero only when a step
# fails or a restored disk is wrong (partclone.ntfs leaving out the NTFS
# backup boot sector is reported, as a known partclone gap, not fatal).
#
# Needs root.  Not part of the test suite.
set -eu
set -o pipefail
export LC_ALL=C.UTF-8

runs=3 size=large clients=8 baseport=19980
top=$(cd "$(dirname "$0")/.." && pwd)
workdir=/tmp/bench-unicast
IMG=${IMG:-$top/build/img}
IMGSERV=${IMGSERV:-$top/build/imgserv}
usage() {
	echo "usage: bench/unicast.sh [--runs N] [--size small|large] [--clients N] [--workdir DIR]" \
		"[--port N] [--img PATH] [--imgserv PATH]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) [ $# -ge 2 ] || usage; runs=$2; shift 2;;
	--runs=*) runs=${1#*=}; shift;;
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2;;
	--size=*) size=${1#*=}; shift;;
	--clients) [ $# -ge 2 ] || usage; clients=$2; shift 2;;
	--clients=*) clients=${1#*=}; shift;;
	--workdir|--work) [ $# -ge 2 ] || usage; workdir=$2; shift 2;;
	--workdir=*|--work=*) workdir=${1#*=}; shift;;
	--port) [ $# -ge 2 ] || usage; baseport=$2; shift 2;;
	--port=*) baseport=${1#*=}; shift;;
	--img) [ $# -ge 2 ] || usage; IMG=$2; shift 2;;
	--imgserv) [ $# -ge 2 ] || usage; IMGSERV=$2; shift 2;;
	-h|--help) sed -n '2,40p' "$0"; exit 0;;
	*) usage;;
	esac
done
case $runs in ''|*[!0-9]*|0) usage;; esac
case $clients in ''|*[!0-9]*|0) usage;; esac
case $baseport in ''|*[!0-9]*) usage;; esac
case $size in small|large) ;; *) usage;; esac

die() { echo "unicast.sh: $*" >&2; exit 1; }
say() { echo "$(date +%T) $*" >&2; }
[ "$(id -u)" = 0 ] || die "needs root (loop devices, dropping the page cache)"
[ -x "$IMG" ] || die "no img binary at $IMG (build it: tools/setup)"
[ -x "$IMGSERV" ] || die "no imgserv binary at $IMGSERV (build it: tools/setup)"
for t in partclone.extfs partclone.ntfs partclone.fat pigz zstd nc ss tar sgdisk sfdisk partx \
	losetup blkid python3; do
	command -v $t >/dev/null || die "missing tool $t (tools/deps.txt)"
done
[ -x /usr/bin/time ] || die "missing /usr/bin/time (package time)"
nc -h 2>&1 | grep -q OpenBSD || die "nc is not OpenBSD netcat (package netcat-openbsd)"
ncpu=$(nproc)
hz=$(getconf CLK_TCK)

fixtures=$top/tests/fixtures
mkdir -p "$workdir"
work=$(mktemp -d "$workdir/run.XXXXXX")
loops=() jobs_=() spid=""
cleanup() {
	local j f
	for f in "$work"/nc.*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	for j in "${jobs_[@]}"; do kill "$j" 2>/dev/null || true; done
	if [ -n "$spid" ]; then
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
	fi
	for j in "${loops[@]}"; do losetup -d "$j" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# fixture, cached next to the runs, keyed by the fixture scripts
. "$top/bench/lib.sh"
bench_fixture "$workdir" "$size" /var/tmp/img-bench
# private copies: build/ may be relinked by a concurrent build during the run
mkdir "$work/bin"
cp "$IMG" "$work/bin/img" && cp "$IMGSERV" "$work/bin/imgserv" || die "cannot copy the binaries"
IMG=$work/bin/img IMGSERV=$work/bin/imgserv
{ "$IMG" 2>&1 || true; } | grep -q usage || die "$IMG does not run"
{ "$IMGSERV" -h 2>&1 || true; } | grep -q usage || die "$IMGSERV does not run"
label=$(sfdisk -J "$src" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["label"])')
[ "$label" = gpt ] || die "$src: not a GPT disk"

mkloop() { # mkloop [-r|-P] FILE [OFFSET SIZE] -> LOOPDEV
	local o=()
	case $1 in -r|-P) o=("$1"); shift;; esac
	if [ $# = 3 ]; then LOOPDEV=$(losetup "${o[@]}" -f --show -o "$2" --sizelimit "$3" "$1")
	else LOOPDEV=$(losetup "${o[@]}" -f --show "$1"); fi
	loops+=("$LOOPDEV")
}
unloop() { # unloop DEV...: detach these (partition nodes go with them)
	local l d keep=()
	for d in "$@"; do losetup -d "$d" 2>/dev/null || true; done
	for l in "${loops[@]}"; do
		case " $* " in *" $l "*) ;; *) keep+=("$l");; esac
	done
	loops=("${keep[@]}")
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

# ---- ports: imgserv at base, nc listeners above it, all free
nstreams=0   # set below: 1 (table+boot) + partitions
portsfree() { # portsfree FROM COUNT
	local p
	for ((p = $1; p < $1 + $2; p++)); do
		[ -z "$(ss -Hltn "sport = :$p")" ] || return 1
	done
}
waitlisten() { # waitlisten PORT
	local i
	for ((i = 0; i < 200; i++)); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.025
	done
	die "nothing listens on port $1"
}

# ---- partitions: NUMBER OFFSET SIZE TOOL (extfs/ntfs/fat, raw = dd)
bench_parts "$src"
parts=("${partlist[@]}")
[ ${#parts[@]} -gt 0 ] || die "no partitions in $src"
nstreams=$((1 + ${#parts[@]}))
needports=$((10 + clients * nstreams))
for ((i = 0; i < 20; i++)); do
	portsfree "$baseport" "$needports" && break
	baseport=$((baseport + 100))
done
portsfree "$baseport" "$needports" || die "no block of $needports free ports found"

# used data: partclone's used-block maps of the filesystems, raw partitions whole
pcq="-q -L $work/pc.log"
: >"$work/used.sizes"
for p in "${parts[@]}"; do
	read -r n off len pc <<<"$p"
	if [ "$pc" = raw ]; then echo "$len" >>"$work/used.sizes"; continue; fi
	mkloop -r "$src" "$off" "$len"
	partclone.$pc -D $pcq -s "$LOOPDEV" -o "$work/p$n.map" >/dev/null 2>&1 ||
		die "partclone.$pc -D failed on partition $n"
	python3 -c 'import sys
print(sum(int(w[1], 16) for w in (l.split() for l in open(sys.argv[1]) if not l.startswith("#"))
          if len(w) >= 3 and w[2] == "+"))' "$work/p$n.map" >>"$work/used.sizes"
	unloop "$LOOPDEV"
done
used=$(awk '{s += $1} END {print s}' "$work/used.sizes")

# ---- the images, made once
say "preparing: partclone images, imgserv, upload ..."
mkdir -p "$work/hdr"
sgdisk --backup="$work/hdr/table.sgdisk" "$src" >/dev/null || die "sgdisk --backup failed"
head -c 440 "$src" >"$work/hdr/boot.bin"
read -r gapoff gaplen < <(python3 "$fixtures/cmpfs.py" gap "$src")
dd if="$src" of="$work/hdr/gap.bin" iflag=skip_bytes,count_bytes skip="$gapoff" count="$gaplen" \
	status=none
tar -cf "$work/hdr.tar" -C "$work/hdr" . || die "tar failed"
for v in zstd1 pigz1; do
	case $v in zstd1) comp="zstd -q -1 -T0";; pigz1) comp="pigz -1 -p $ncpu";; esac
	sz=$(stat -c %s "$work/hdr.tar")
	for p in "${parts[@]}"; do
		read -r n off len pc <<<"$p"
		mkloop -r "$src" "$off" "$len"
		if [ "$pc" = raw ]; then
			dd if="$LOOPDEV" bs=1M status=none | $comp >"$work/$v.p$n" || die "dd | $comp failed (p$n)"
		else
			partclone.$pc $pcq -c -s "$LOOPDEV" -o - 2>/dev/null | $comp >"$work/$v.p$n" ||
				die "partclone.$pc -c | $comp failed (p$n)"
		fi
		unloop "$LOOPDEV"
		sz=$((sz + $(stat -c %s "$work/$v.p$n")))
	done
	echo "$v $sz" >>"$work/sizes"
done

# imgserv, its own key, store, state and pid file; the image uploaded once
mkdir -p "$work/store" "$work/state"
head -c 32 /dev/urandom | base64 >"$work/KEY"
chmod 600 "$work/KEY"
printf 'pidfile = %s\n' "$work/imgserv.pid" >"$work/imgserv.conf"
sport=$baseport
"$IMGSERV" -foreground -i:127.0.0.1 -port=$sport -store="$work/store" -state="$work/state" \
	-key="$work/KEY" -conf="$work/imgserv.conf" 2>"$work/imgserv.log" &
spid=$!
waitlisten $sport
srvdie() { tail -20 "$work/imgserv.log" >&2; die "$@"; }
mkloop -r "$src"
"$IMG" -makep 127.0.0.1:$sport lab/x.img -key="$work/KEY" -disk="$LOOPDEV" >"$work/step.out" 2>&1 ||
	{ cat "$work/step.out" >&2; srvdie "img -makep failed"; }
unloop "$LOOPDEV"
echo "img $(stat -c %s "$work/store/lab/x.img")" >>"$work/sizes"
srvcpu() { # imgserv's utime+stime in seconds
	awk -v hz="$hz" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$spid/stat"
}

# ---- nc senders: one `nc -N -l` per stream, its CPU from bash `times`
ncserve() { # ncserve TAG FILE PORT
	(
		nc -N -l 127.0.0.1 "$3" <"$2" >/dev/null 2>"$work/nc.$1.err" &
		echo $! >"$work/nc.$1.pid"
		wait $!
		rc=$?
		times >"$work/nc.$1.times"
		exit $rc
	) &
	jobs_+=($!)
}
ncserve_all() { # ncserve_all V FIRSTPORT TAG: the table stream and every partition
	local v=$1 port=$2 tag=$3 p n off len pc
	ncserve "$tag.hdr" "$work/hdr.tar" "$port"
	for p in "${parts[@]}"; do
		read -r n off len pc <<<"$p"
		port=$((port + 1))
		ncserve "$tag.p$n" "$work/$v.p$n" "$port"
	done
	for ((port = $2; port < $2 + nstreams; port++)); do waitlisten $port; done
}
ncreap() { # wait for every sender; NCCPU = their summed user+sys CPU
	local j rc=0 f
	for j in "${jobs_[@]}"; do wait "$j" || rc=1; done
	jobs_=()
	[ $rc = 0 ] || { cat "$work"/nc.*.err >&2; die "an nc sender failed"; }
	NCCPU=$(for f in "$work"/nc.*.times; do sed -n 2p "$f"; done |
		awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
		     END { printf "%.3f\n", s }')
	rm -f "$work"/nc.*
}
# receiving side of the nc pipelines onto LOOP (attached with -P)
rxcmd() { # rxcmd V LOOP DIR FIRSTPORT
	local v=$1 loop=$2 dir=$3 port=$4 dec p n off len pc devs
	case $v in zstd1) dec="zstd -q -dc";; pigz1) dec="pigz -dc";; esac
	devs=$loop
	RX="mkdir -p $dir && nc -d 127.0.0.1 $port | tar -x -C $dir"
	RX="$RX && sgdisk --load-backup=$dir/table.sgdisk $loop >/dev/null"
	RX="$RX && dd if=$dir/boot.bin of=$loop conv=notrunc status=none"
	RX="$RX && dd if=$dir/gap.bin of=$loop oflag=seek_bytes seek=$gapoff conv=notrunc status=none"
	RX="$RX && partx -u $loop"
	for p in "${parts[@]}"; do
		read -r n off len pc <<<"$p"
		port=$((port + 1))
		RX="$RX && test -b ${loop}p$n"
		if [ "$pc" = raw ]; then
			RX="$RX && nc -d 127.0.0.1 $port | $dec | dd of=${loop}p$n bs=1M iflag=fullblock status=none"
		else
			RX="$RX && nc -d 127.0.0.1 $port | $dec | partclone.$pc -q -L $dir/pc.log -r -s - -o ${loop}p$n"
		fi
		devs="$devs ${loop}p$n"
	done
	RX="$RX && sync $devs"
}

# timed NAME RUN CMD: one step after a cache drop; appends
# "name run wall cpu rss" to $work/times
timed() {
	local name=$1 run=$2
	shift 2
	if ! /usr/bin/time -f "%e %U %S %M" -o "$work/t" bash -o pipefail -c "$*" \
		>"$work/step.out" 2>&1; then
		cat "$work/step.out" >&2
		tail -5 "$work/imgserv.log" >&2
		die "step '$name' failed: $*"
	fi
	read -r wall u s rss <"$work/t"
	echo "$name $run $wall $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }') $rss" >>"$work/times"
}

# ---- verification: check.sh once per method, then byte identity
# partclone.ntfs leaves out the NTFS backup boot sector (FIELD-NOTES.md)
known_re='^FAIL ntfs p[0-9]+ (backup boot sector|fsck: ntfsfix -n: Checking the alternate boot sector\.\.\. BAD Error: Failed to fix the alternate boot sector *$)'
bad=0
verify() { # verify METHOD TARGET: the first target is checked and kept as the reference
	local m=$1 t=$2 ref="$work/ref.$1.img" nf nk
	if [ ! -f "$ref" ]; then
		say "checking $m's restored disk (check.sh) ..."
		"$fixtures/check.sh" "$src" "$t" >"$work/check.$m.log" 2>&1 || true
		nf=$(grep -c '^FAIL' "$work/check.$m.log" || true)
		nk=$(grep -cE "$known_re" "$work/check.$m.log" || true)
		nok=$(grep -c '^ok' "$work/check.$m.log" || true)
		if [ "$nf" = 0 ]; then
			echo "$m all $nok checks ok" >>"$work/verdicts"
		elif [ "$nf" = "$nk" ]; then
			echo "$m $nok ok, $nf FAIL: the NTFS backup boot sector is not restored" \
				"(ntfsfix -n: alternate boot sector BAD), the known partclone.ntfs gap" >>"$work/verdicts"
		else
			echo "$m $nok ok, $nf FAIL: $(grep '^FAIL' "$work/check.$m.log" | cut -c6- |
				tr '\n' ';' | sed 's/;$//')" >>"$work/verdicts"
			if [ "$nf" != "$nk" ]; then
				bad=1
				echo "unicast.sh: $m: restored disk fails check.sh:" >&2
				grep '^FAIL' "$work/check.$m.log" >&2
			fi
		fi
		mv "$t" "$ref"
		return
	fi
	if samedisk "$ref" "$t"; then
		echo "$m same" >>"$work/identical"
		rm -f "$t"
	else
		bad=1
		echo "$m differs" >>"$work/identical"
		echo "unicast.sh: $m: a restored disk differs from the checked one; check.sh on it:" >&2
		"$fixtures/check.sh" "$src" "$t" 2>&1 | grep '^FAIL' >&2 || true
		mv "$t" "$work/bad.$m.$(date +%s%N).img"
	fi
}
blank() { rm -f "$1"; truncate -s "$disksize" "$1"; }

: >"$work/times"; : >"$work/conc"; : >"$work/batch"; : >"$work/verdicts"; : >"$work/identical"
for r in $(seq "$runs"); do
	say "run $r of $runs ..."
	# ---- single restore
	blank "$work/dst.img"
	mkloop "$work/dst.img"
	dropcache
	s0=$(srvcpu)
	timed "single-img" "$r" "$IMG -restorep 127.0.0.1:$sport lab/x.img -disk=$LOOPDEV && sync $LOOPDEV"
	s1=$(srvcpu)
	sed -i "\$s/\$/ $(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')/" "$work/times"
	unloop "$LOOPDEV"
	verify img "$work/dst.img"
	for v in zstd1 pigz1; do
		blank "$work/dst.img"
		mkloop -P "$work/dst.img"
		ncserve_all $v $((sport + 1)) single
		rxcmd $v "$LOOPDEV" "$work/rx" $((sport + 1))
		dropcache
		timed "single-partclone+$v" "$r" "$RX"
		ncreap
		sed -i "\$s/\$/ $NCCPU/" "$work/times"
		unloop "$LOOPDEV"
		rm -rf "$work/rx"
		verify "partclone+$v" "$work/dst.img"
	done

	# ---- N concurrent restores
	for m in img partclone+zstd1; do
		say "$clients concurrent restores: $m ..."
		devs=()
		for ((i = 0; i < clients; i++)); do
			blank "$work/c$i.img"
			if [ $m = img ]; then mkloop "$work/c$i.img"; else mkloop -P "$work/c$i.img"; fi
			devs+=("$LOOPDEV")
		done
		if [ $m != img ]; then
			for ((i = 0; i < clients; i++)); do
				ncserve_all zstd1 $((sport + 10 + i * nstreams)) "c$i"
			done
		fi
		dropcache
		s0=$(srvcpu)
		pids=()
		t0=$(date +%s.%N)
		for ((i = 0; i < clients; i++)); do
			if [ $m = img ]; then
				cmd="$IMG -restorep 127.0.0.1:$sport lab/x.img -disk=${devs[i]} && sync ${devs[i]}"
			else
				rxcmd zstd1 "${devs[i]}" "$work/rx$i" $((sport + 10 + i * nstreams))
				cmd=$RX
			fi
			/usr/bin/time -f "%e %U %S" -o "$work/c$i.t" bash -o pipefail -c "$cmd" \
				>"$work/c$i.out" 2>&1 &
			pids+=($!)
		done
		fail=""
		for ((i = 0; i < clients; i++)); do wait "${pids[i]}" || fail="$fail $i"; done
		t1=$(date +%s.%N)
		s1=$(srvcpu)
		if [ -n "$fail" ]; then
			for i in $fail; do echo "--- client $i:" >&2; cat "$work/c$i.out" >&2; done
			tail -10 "$work/imgserv.log" >&2
			die "concurrent $m: client(s)$fail failed"
		fi
		if [ $m = img ]; then srv=$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')
		else ncreap; srv=$NCCPU; fi
		echo "$m $r $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $srv" >>"$work/batch"
		for ((i = 0; i < clients; i++)); do
			read -r wall u s <"$work/c$i.t"
			echo "$m $r $i $wall $(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" >>"$work/conc"
		done
		unloop "${devs[@]}"
		for ((i = 0; i < clients; i++)); do
			verify "$m" "$work/c$i.img"
			rm -rf "$work/rx$i"
		done
	done
done

"$IMGSERV" -status -i 127.0.0.1:$sport >"$work/status" 2>&1 || srvdie "imgserv -status failed"
tools="partclone $(partclone.extfs --version 2>&1 | awk '/Partclone/ { print $3; exit }'),"
tools="$tools zstd $(zstd -V | grep -o 'v[0-9.]*' | head -1), pigz $(pigz -V 2>&1 | awk '{print $2}'),"
tools="$tools netcat-openbsd $(dpkg-query -W -f '${Version}' netcat-openbsd 2>/dev/null || echo '?')"
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
mem=$(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1e6 }' /proc/meminfo)

# ---- report
python3 - "$work" "$used" "$ncpu" "$runs" "$size" "$cache_drop" "$clients" \
	"$(uname -r)" "$os" "$mem" "$tools" "${#parts[@]}" "$(printf '%s\n' "${parts[@]}" | grep -vc ' raw$')" <<'EOF'
import statistics, sys
work, used, ncpu, runs, size, dropped, clients, kernel, os_, mem, tools, nparts, npc = sys.argv[1:]
npc = int(npc)
used = int(used); ncpu = int(ncpu); runs = int(runs); clients = int(clients)
MB = 1e6
med = statistics.median
rows = {}
for l in open(work + "/times"):
    name, run, wall, cpu, rss, srv = l.split()
    r = rows.setdefault(name, {"wall": [], "cpu": [], "rss": [], "srv": []})
    r["wall"].append(float(wall)); r["cpu"].append(float(cpu))
    r["rss"].append(int(rss)); r["srv"].append(float(srv))
sz = dict(l.split() for l in open(work + "/sizes"))
verdict = {}
for l in open(work + "/verdicts"):
    m, v = l.rstrip("\n").split(" ", 1)
    verdict[m] = v
ident = {}
for l in open(work + "/identical"):
    m, v = l.split()
    s = ident.setdefault(m, [0, 0]); s[0 if v == "same" else 1] += 1
print()
print("img unicast restore benchmark: %s GPT fixture, %s partitions (FAT32 ESP, raw MSR, NTFS, ext4), "
      "%.1f MB used, %d run(s), medians; page cache %s; TCP over loopback 127.0.0.1"
      % (size, nparts, used / MB, runs, "dropped before each step" if dropped == "1" else "NOT dropped"))
print("machine: %d CPUs (nproc), Linux %s, %s, %s; %s" % (ncpu, kernel, os_, mem, tools))
print("FOG's NFS transport not measured (needs the kernel NFS server); nc over TCP stands for "
      "the Clonezilla/udpcast-style unicast path")
def label(n):
    return {"img": "img -restorep (imgserv)", "partclone+zstd1": "nc | zstd -dc | partclone",
            "partclone+pigz1": "nc | pigz -dc | partclone"}[n]
def key(n):
    return n.split("-", 1)[1]
names = sorted(rows, key=lambda n: ("img" not in n, n))
pc = [n for n in names if "partclone" in n]
fastest = min(pc, key=lambda n: med(rows[n]["wall"]))
fw = med(rows[fastest]["wall"])
print()
print("%-28s %8s %8s %10s %8s %9s %8s %12s" % ("single restore", "wall s", "cpu s", "server cpu",
                                             "RSS MB", "image MB", "MB/s", "wall vs best"))
for n in names:
    r = rows[n]; k = key(n); w = med(r["wall"])
    print("%-28s %8.2f %8.2f %10.2f %8.1f %9.1f %8.1f %11.2fx%s" % (
        label(k), w, med(r["cpu"]), med(r["srv"]), med(r["rss"]) / 1024,
        int(sz["img" if k == "img" else k.split("+")[1]]) / MB, used / MB / w, w / fw,
        "  (fastest partclone)" if n == fastest else ""))
iw = med(rows["single-img"]["wall"])
print("img vs fastest nc|partclone pipeline (%s): %.2fx the time, %.2fx the speed"
      % (label(key(fastest)), iw / fw, fw / iw))

conc = {}
for l in open(work + "/conc"):
    m, run, i, wall, cpu = l.split()
    conc.setdefault(m, {}).setdefault(int(run), []).append((float(wall), float(cpu)))
batch = {}
for l in open(work + "/batch"):
    m, run, wall, srv = l.split()
    batch.setdefault(m, {})[int(run)] = (float(wall), float(srv))
print()
print("%-28s %8s %9s %22s %9s %8s %10s" % ("%d concurrent restores" % clients, "wall s", "aggr MB/s",
                                           "client min/med/max s", "max/min", "cpu s", "server cpu"))
# cpu s: user+sys of all clients together
for m in ("img", "partclone+zstd1"):
    if m not in batch:
        continue
    per = []
    for run, b in sorted(batch[m].items()):
        ws = [w for w, _ in conc[m][run]]
        per.append({"wall": b[0], "aggr": clients * used / b[0], "min": min(ws), "med": med(ws),
                    "max": max(ws), "fair": max(ws) / min(ws),
                    "cpu": sum(c for _, c in conc[m][run]), "srv": b[1]})
    g = lambda f: med([p[f] for p in per])
    print("%-28s %8.2f %9.1f %22s %8.2fx %8.2f %10.2f" % (
        label(m), g("wall"), g("aggr") / MB, "%.2f / %.2f / %.2f" % (g("min"), g("med"), g("max")),
        g("fair"), g("cpu"), g("srv")))
if "img" in batch and "partclone+zstd1" in batch:
    a = med([b[0] for b in batch["img"].values()]); b = med([b[0] for b in batch["partclone+zstd1"].values()])
    print("img vs %d nc|zstd|partclone pipelines: %.2fx the time, %.2fx the aggregate throughput"
          % (clients, a / b, b / a))
print("(wall: launch of the first client to the end of the slowest; aggregate: %d x used data / wall;"
      " cpu s: all clients together)" % clients)
print()
print("restored disks: tests/fixtures/check.sh on each method's first restore; every other restore "
      "compared byte for byte with that one (image-safe data area left out):")
for m in ("img", "partclone+zstd1", "partclone+pigz1"):
    s = ident.get(m, [0, 0])
    print("  %-26s check.sh: %s" % (label(m), verdict.get(m, "?")))
    print("  %-26s %d more restore(s) identical, %d different" % ("", s[0], s[1]))
print("partclone sleeps ~2 s at the end of every call: %d calls per disk here" % npc)
print()
print("imgserv -status after the run (expected Images Sent %d, Received 1):" % (runs * (1 + clients)))
for l in open(work + "/status"):
    print("  " + l.rstrip())
EOF
[ $bad = 0 ] || die "a restored disk is wrong (see above)"
