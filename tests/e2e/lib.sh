#!/bin/bash
# lib.sh - shared setup for the end-to-end tests.  Source it, then call
# e2e_init NAME.
#
# Environment:
#   IMG       the img binary (meson passes it)
#   FIXDIR    scratch directory (default /tmp/img-e2e); each test works in
#             its own subdirectory, removed at exit
#   FIXCACHE  where built fixture disks are cached (default $FIXDIR/fixtures),
#             keyed by the checksum of the fixture scripts
#   FIXTURES  the tests/fixtures directory (default: next to this file)
#   KEEP=1    keep the work directory of a failing test
#
# Exit convention: 0 pass, 1 fail, 77 skip (reason printed).

set -u
export LC_ALL=C.UTF-8 MTOOLS_SKIP_CHECK=1
# Tests run in parallel: each runs in a private mount namespace of its own,
# so that its mounts (ext4, ntfs-3g's FUSE, tmpfs) are never copied into
# the mount namespace another test's `ip netns exec` makes meanwhile: such a
# copy keeps a FUSE volume from being finished at umount and a loop device
# busy.  Namespaces of a test bed are then bind-mounted in this namespace
# only, and go with it.
if [ "$(id -u)" = 0 ] && [ -z "${E2E_MNTNS:-}" ] && unshare -m true 2>/dev/null; then
	export E2E_MNTNS=1
	exec unshare -m --propagation private "$BASH" "$0" "$@"
fi

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURES=${FIXTURES:-$(cd "$E2E_DIR/../fixtures" && pwd)}
FIXDIR=${FIXDIR:-/tmp/img-e2e}
FIXCACHE=${FIXCACHE:-$FIXDIR/fixtures}
CHECK="$FIXTURES/check.sh"
MKDISK="$FIXTURES/mkdisk.sh"
CMPFS="$FIXTURES/cmpfs.py"

E2E_FAILS=0
E2E_CHECKS=0
E2E_LOOPS=()
E2E_MOUNTS=()
E2E_PORTS=()
WORK=""

skip() { echo "SKIP: $*"; exit 77; }
note() { echo "# $*"; }
pass() { echo "ok - $*"; E2E_CHECKS=$((E2E_CHECKS + 1)); }
fail() { echo "FAIL - $*"; E2E_CHECKS=$((E2E_CHECKS + 1)); E2E_FAILS=$((E2E_FAILS + 1)); }
# a failed step the rest of the test depends on
fatal() { fail "$*"; echo "FAIL: aborting $E2E_NAME"; exit 1; }

# loop_owned_detach DEV: detach DEV only while a file of this test's
# ($WORK) backs it: a number another test was given after ours went is
# never taken from it (tests run side by side)
loop_owned_detach() {
	case $(losetup -n -O BACK-FILE "$1" 2>/dev/null) in
	"$WORK"/* | "$(realpath -m "$WORK")"/*) losetup -d "$1" 2>/dev/null;;
	esac
	return 0
}

e2e_cleanup() {
	local rc=$? i
	declare -F srv_cleanup >/dev/null && srv_cleanup
	for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${E2E_MOUNTS[i]}" 2>/dev/null || umount -l "${E2E_MOUNTS[i]}" 2>/dev/null
	done
	for i in "${E2E_LOOPS[@]}"; do
		loop_owned_detach "$i"
	done
	for i in "${E2E_PORTS[@]}"; do
		rm -rf "${PORTS_DIR:?}/$i"
	done
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${KEEP:-0}" = 1 ] && [ $rc != 0 ]; then
			echo "# kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit $rc
}

e2e_init() { # e2e_init NAME [extra required tools...]
	E2E_NAME=$1
	shift
	[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mounts, FUSE)"
	[ -n "${IMG:-}" ] || skip "IMG is not set (run through meson test, or IMG=path/to/img)"
	[ -x "$IMG" ] || { echo "FAIL: IMG=$IMG is not an executable"; exit 1; }
	[ -e /dev/loop-control ] || skip "no /dev/loop-control (no loop devices)"
	[ -e /dev/fuse ] || skip "no /dev/fuse (ntfs-3g needs FUSE)"
	local t
	for t in losetup sfdisk sgdisk blkid mkfs.ext4 e2fsck mkfs.vfat fsck.vfat mcopy mdir \
		mkntfs ntfs-3g ntfsfix mkswap partclone.extfs partclone.ntfs partclone.fat \
		python3 sha256sum flock "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "missing tool $t"
	done
	mkdir -p "$FIXDIR" "$FIXCACHE" || fatal "cannot create $FIXDIR"
	WORK=$(mktemp -d "$FIXDIR/$E2E_NAME.XXXXXX") || fatal "mktemp in $FIXDIR"
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	# a loop device must be obtainable
	local l
	truncate -s 1M "$WORK/looptest"
	if ! l=$(losetup -f --show -r "$WORK/looptest" 2>/dev/null); then
		skip "cannot set up a loop device"
	fi
	losetup -d "$l"
	rm -f "$WORK/looptest"
	note "work dir $WORK, img $IMG"
}

e2e_finish() {
	if [ $E2E_CHECKS = 0 ]; then
		echo "FAIL: $E2E_NAME made no assertions"
		exit 1
	fi
	if [ $E2E_FAILS != 0 ]; then
		echo "FAIL: $E2E_NAME: $E2E_FAILS of $E2E_CHECKS checks failed"
		exit 1
	fi
	echo "PASS: $E2E_NAME ($E2E_CHECKS checks)"
	exit 0
}

# fixture KIND SIZE: sets FIXTURE to the path of a cached fixture disk
# (built on first use).  Tests must not write to it, and give img copies
# (copy_fixture) so that an engine bug cannot spoil the cache.
fixture() {
	local kind=$1 size=$2 key f
	key=$(cat "$MKDISK" "$FIXTURES/gentree.py" | sha256sum | cut -c1-12)
	f="$FIXCACHE/$kind-$size-$key.img"
	(
		flock 9
		if [ ! -f "$f" ]; then
			rm -f "$FIXCACHE/$kind-$size-"*.img   # older script versions
			t0=$SECONDS
			"$MKDISK" "$kind" "$f.tmp" "$size" || exit 1
			mv "$f.tmp" "$f"
			echo "# built fixture $f in $((SECONDS - t0)) s"
		fi
	) 9>"$FIXCACHE/.lock" || fatal "building fixture $kind $size failed"
	FIXTURE=$f
}

# copy_fixture KIND SIZE DEST
copy_fixture() {
	fixture "$1" "$2"
	cp --sparse=always "$FIXTURE" "$3" || fatal "copy $FIXTURE to $3"
}

# run_img ARGS...: runs $IMG, output in $WORK/out and $WORK/err, status in RC
run_img() {
	note "img $*"
	"$IMG" "$@" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	if [ -s "$WORK/err" ]; then sed 's/^/#   stderr: /' "$WORK/err" | head -20; fi
	return 0
}

# expect_rc N WHAT
expect_rc() {
	if [ "$RC" = "$1" ]; then pass "$2: exit status $RC"
	else fail "$2: exit status $RC, expected $1"; fi
}
# expect_err REGEX WHAT: an "img: " line on stderr matches REGEX (ERE, any case)
expect_err() {
	if grep '^img: ' "$WORK/err" | grep -Eiq -- "$1"; then
		pass "$2: message matches /$1/"
	else
		fail "$2: no 'img: ' message on stderr matching /$1/ (stderr: $(head -c 300 "$WORK/err" | tr '\n' ' '))"
	fi
}
# expect_fail WHAT REGEX...: exit status 1 and messages matching each REGEX
expect_fail() {
	local what=$1 r
	shift
	expect_rc 1 "$what"
	for r in "$@"; do expect_err "$r" "$what"; done
}

# wait_until SECS CMD...: runs CMD (its stderr dropped) every 0.1 s until
# it succeeds; 1 when it did not within SECS.  For everything another
# process does in its own time: never read its output once and hope.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" 2>/dev/null && return 0
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
# proc_gone PID: the process has ended
proc_gone() { ! kill -0 "$1" 2>/dev/null; }
# wait_for_line FILE REGEX SECS: until a line of FILE (a log, a status
# file another process writes) matches REGEX (ERE); 1 when not within SECS
wait_for_line() { wait_until "$3" grep -Eq -- "$2" "$1"; }
# expect_line FILE REGEX SECS WHAT: wait_for_line as an assertion
expect_line() {
	if wait_for_line "$1" "$2" "$3"; then pass "$4"
	else fail "$4: no line of $(basename "$1") matches /$2/ within $3 s (last: $(tail -2 "$1" 2>/dev/null | tr '\n' ' '))"; fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -L -c %s "$1"; }

# blank FILE BYTES: sparse zero-filled disk file
blank() { rm -f "$1"; truncate -s "$2" "$1" || fatal "truncate $1"; }
# pattern FILE BYTES: a disk file filled with a repeating non-zero pattern,
# so that any write into it shows up
pattern() {
	python3 - "$1" "$2" <<'EOF' || fatal "pattern $1"
import sys
n = int(sys.argv[2])
blk = (b"\xa5NOT-WRITTEN-BY-IMG\x5a" * 60000)[: 1 << 20]
with open(sys.argv[1], "wb") as f:
    while n > 0:
        k = min(n, len(blk)); f.write(blk[:k]); n -= k
EOF
}

# region_sha FILE OFFSET LEN: checksum of a byte range
region_sha() {
	python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, sys
h = hashlib.sha256(); n = int(sys.argv[3])
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]))
    while n > 0:
        b = f.read(min(n, 1 << 20))
        if not b: break
        h.update(b); n -= len(b)
print(h.hexdigest())
EOF
}

# outside_sha FILE OFFSET LEN: checksum of everything except a byte range
outside_sha() {
	local total
	total=$(fsize "$1")
	echo "$(region_sha "$1" 0 "$2") $(region_sha "$1" $(($2 + $3)) $((total - $2 - $3)))"
}

# part_field DISK N start|size: partition N of DISK's table, in bytes
part_field() {
	python3 "$CMPFS" parts "$1" | awk -v n="$2" -v f="$3" \
		'$1 == n { print (f == "start" ? $2 : $3) }'
}

# run_check SRC DST [check.sh options]: check.sh, its output indented
run_check() {
	local src=$1 dst=$2
	shift 2
	note "check.sh $* $(basename "$src") $(basename "$dst")"
	if "$CHECK" "$@" "$src" "$dst" >"$WORK/check.out" 2>&1; then
		sed 's/^/#   /' "$WORK/check.out"
		pass "check.sh $* $(basename "$dst"): $(grep -c '^ok' "$WORK/check.out") checks ok"
	else
		sed 's/^/#   /' "$WORK/check.out"
		fail "check.sh $* $(basename "$dst"): $(grep '^FAIL' "$WORK/check.out" | head -3 | tr '\n' ' ')"
	fi
}

# dump_numbers FILE: partition numbers from `img -dump` / `-imginfo` output
# (lines that begin with a number, optionally indented)
dump_numbers() {
	awk '$1 ~ /^[0-9]+$/ { print $1 }' "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'
}
# dump_number_of FILE REGEX: number of the first partition line matching REGEX
dump_number_of() {
	awk -v re="$2" '$1 ~ /^[0-9]+$/ && tolower($0) ~ re { print $1; exit }' "$1"
}

# img_records FILE: one line per record: OFFSET TAG BODY_LEN COVERED
# (format in src/format.h: 16-byte file header, then records with a 24-byte
# prefix: tag, flags u32, body length u64, crc u32, covered u32)
img_records() {
	python3 - "$1" <<'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    data_len = f.seek(0, 2)
    f.seek(0)
    hdr = f.read(16)
    off = struct.unpack_from("<H", hdr, 10)[0]
    if not 16 <= off <= 4096:
        off = 16
    while off + 24 <= data_len:
        f.seek(off)
        p = f.read(24)
        tag = p[:4].decode("ascii", "replace")
        blen, crc, cov = struct.unpack_from("<QII", p, 8)
        print(off, tag, blen, cov)
        if not tag.isalpha():
            break
        off += 24 + blen
EOF
}

# ---- filesystem handler tests (fs_*.sh) ----------------------------------
# stale_bytes FILE OFFSET LEN SEED: seeded random bytes over [OFFSET,
# OFFSET+LEN), for what will be free space after mkfs
stale_bytes() {
	python3 - "$@" <<'PY' || fatal "stale bytes into $1"
import random, sys
r = random.Random(int(sys.argv[4]))
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    left = int(sys.argv[3])
    while left > 0:
        n = min(left, 1 << 20)
        f.write(r.randbytes(n))
        left -= n
PY
}
# loops_detach: detach every loop device the test made so far
loops_detach() {
	local l
	for l in "${E2E_LOOPS[@]}"; do loop_owned_detach "$l"; done
	E2E_LOOPS=()
}
# dump_disk DISK: img -dump of DISK, its output shown (in $WORK/out)
dump_disk() {
	run_img -dump -disk="$1"
	expect_rc 0 "img -dump of $(basename "$1")"
	sed 's/^/#   /' "$WORK/out"
}
# part_loop FILE OFFSET SIZE: a read-write loop device on a partition in
# LOOPDEV, detached at exit
part_loop() {
	LOOPDEV=$(losetup -f --show -o "$2" --sizelimit "$3" "$1") || fatal "losetup on $1 at $2"
	E2E_LOOPS+=("$LOOPDEV")
}
# pc_used FS FILE N...: the bytes partclone.FS's domain map marks used in
# partitions N... of FILE (for btrfs: btrfs-progs' reading, btrfs_used.py)
pc_used() {
	local fs=$1 f=$2 n so sz l total=0
	shift 2
	for n in "$@"; do
		so=$(part_field "$f" "$n" start) sz=$(part_field "$f" "$n" size)
		l=$(losetup -r -f --show -o "$so" --sizelimit "$sz" "$f") || fatal "losetup"
		total=$((total + $(pc_used_dev "$fs" "$l")))
		losetup -d "$l"
	done
	echo "$total"
}
# pc_used_dev FS DEV: the same for one device
pc_used_dev() {
	local len mark total=0
	rm -f "$WORK/pc.map"
	if [ "$1" = btrfs ]; then   # see tests/fixtures/btrfs_used.py
		python3 "$FIXTURES/btrfs_used.py" "$2" "$WORK/pc.map"
	else
		partclone."$1" -D -q -L /dev/null -s "$2" -o "$WORK/pc.map" >/dev/null 2>&1
	fi
	while read -r _ len mark; do
		[ "$mark" = + ] && total=$((total + len))
	done < <(grep -v '^#' "$WORK/pc.map")
	echo "$total"
}
# fs_roundtrip FS SRC PARTBYTES N...: -dump must show partitions N... of
# SRC as FS mapped by used blocks; captures SRC, checks that the image
# is smaller than the used bytes (partclone.FS, partitions N...) plus 5%
# of PARTBYTES, restores it onto a blank disk of the same size and one
# 64 MiB larger and runs check.sh on both
fs_roundtrip() {
	local fs=$1 src=$2 parts=$3 used isize limit n
	shift 3
	dump_disk "$src"
	for n in "$@"; do
		grep -qE "^ *$n .* $fs .*used blocks" "$WORK/out" &&
			pass "-dump: p$n is $fs, mapped by its used blocks" ||
			fail "-dump: p$n is not $fs by used blocks: $(grep -E "^ *$n " "$WORK/out")"
	done
	run_img -makel "$WORK/a.img" -disk="$src"
	expect_rc 0 "capture"
	used=$(pc_used "$fs" "$src" "$@")
	isize=$(fsize "$WORK/a.img")
	limit=$((used + parts / 20))
	note "image $isize bytes; used $used bytes; limit used + 5% of the partitions = $limit"
	[ "$used" -gt $((16 << 20)) ] && [ "$isize" -lt "$limit" ] &&
		pass "image ($((isize >> 20)) MiB) is smaller than the used bytes ($((used >> 20)) MiB) + 5% of the partitions" ||
		fail "image $isize bytes, used $used, limit $limit"
	blank "$WORK/dst.img" "$(fsize "$src")"
	run_img -restorel "$WORK/a.img" -disk="$WORK/dst.img"
	expect_rc 0 "restore onto a blank disk of the same size"
	run_check "$src" "$WORK/dst.img"
	blank "$WORK/big.img" $(($(fsize "$src") + (64 << 20)))
	run_img -restorel "$WORK/a.img" -disk="$WORK/big.img"
	expect_rc 0 "restore onto a blank disk 64 MiB larger"
	run_check "$src" "$WORK/big.img"
}
# fs_dirty_raw SRC N REGEX: partition N is reported raw with a reason
# matching REGEX, and a capture restores it byte for byte
fs_dirty_raw() {
	local src=$1 n=$2 re=$3
	run_img -dump -disk="$src"
	grep -E "^ *$n .*raw: $re" "$WORK/out" >/dev/null &&
		pass "-dump: p$n is captured raw, with the reason" ||
		fail "-dump of p$n lacks /raw: $re/: $(grep -E "^ *$n " "$WORK/out")"
	run_img -makel "$WORK/dirty.img" -disk="$src"
	expect_rc 0 "capture with p$n raw"
	blank "$WORK/dirty-dst.img" "$(fsize "$src")"
	run_img -restorel "$WORK/dirty.img" -disk="$WORK/dirty-dst.img"
	expect_rc 0 "restore of that capture"
	run_check "$src" "$WORK/dirty-dst.img" --only "$n"
}

# losetup_part FILE: whole-disk loop device with partition nodes in LOOPDEV
losetup_part() {
	LOOPDEV=$(losetup -f --show -P "$1") || return 1
	E2E_LOOPS+=("$LOOPDEV")
	local i
	for i in $(seq 50); do
		[ -b "${LOOPDEV}p1" ] && return 0
		partx -a "$LOOPDEV" >/dev/null 2>&1
		sleep 0.1
	done
	return 1
}

# ---- imaging servers -----------------------------------------------------
# srv_start DIR [imgserv options...]: runs build's imgserv in the foreground
# on 127.0.0.1 and a free port, with DIR/store, DIR/state, DIR/imgserv.conf
# (created empty if missing; write rules there before) and DIR/pid.  Sets
# SRV_PORT and SRV_PID; the server's log is DIR/log.  Stopped at exit.
IMGSERV=${IMGSERV:-$(dirname "${IMG:-/nonexistent}")/imgserv}
PROTOCLIENT="$E2E_DIR/protoclient.py"
E2E_SERVERS=()
srv_start() {
	local dir=$1 try
	shift
	[ -x "$IMGSERV" ] || fatal "no imgserv binary at $IMGSERV"
	mkdir -p "$dir"
	[ -f "$dir/imgserv.conf" ] || : >"$dir/imgserv.conf"
	for try in 1 2 3 4 5; do
		free_port
		"$IMGSERV" -foreground -i:127.0.0.1 -port="$PORT" -store="$dir/store" \
			-state="$dir/state" -conf="$dir/imgserv.conf" -pidfile="$dir/pid" \
			"$@" 2>>"$dir/log" &
		SRV_PID=$!
		SRV_PORT=$PORT
		E2E_SERVERS+=("$SRV_PID")
		SRV_UP=0
		wait_until 30 srv_up
		[ $SRV_UP = 1 ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null && break
		# a process outside the tests took the port meanwhile
		tail -1 "$dir/log" | grep -q "port $PORT: Address already in use" || break
		note "port $PORT was taken meanwhile, another one"
	done
	sed 's/^/#   server: /' "$dir/log"
	fatal "imgserv did not start on port $SRV_PORT"
}
# srv_up: 0 when the server srv_start started answers (SRV_UP=1) or has
# exited
srv_up() {
	"$IMGSERV" -status -i "127.0.0.1:$SRV_PORT" -conf=/dev/null >/dev/null 2>&1 && SRV_UP=1 && return 0
	! kill -0 "$SRV_PID" 2>/dev/null
}
# free_port: sets PORT to a TCP port that nothing listens on and no other
# test reserved: tests run in parallel, and a port that is free when one
# test looks may be taken by another before its server binds.  A directory
# PORTS_DIR/PORT holding the owner's pid is the reservation (mkdir is
# atomic), given up at exit; one whose owner is gone is taken over.
PORTS_DIR=${PORTS_DIR:-/tmp/img-test-ports}
free_port() {
	local p i owner
	mkdir -p "$PORTS_DIR" || fatal "cannot create $PORTS_DIR"
	for i in $(seq 500); do
		p=$((20000 + RANDOM % 12000))
		ss -Hltun "sport = :$p" 2>/dev/null | grep -q . && continue
		if ! mkdir "$PORTS_DIR/$p" 2>/dev/null; then
			owner=$(cat "$PORTS_DIR/$p/pid" 2>/dev/null)
			[ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null || continue
			rm -rf "${PORTS_DIR:?}/$p"
			mkdir "$PORTS_DIR/$p" 2>/dev/null || continue
		fi
		echo $$ >"$PORTS_DIR/$p/pid"
		E2E_PORTS+=("$p")
		PORT=$p
		return 0
	done
	fatal "no free TCP port in 20000-31999"
}
# srv_stat PORT NAME: one statistic of a running server
srv_stat() {
	"$IMGSERV" -status -i "127.0.0.1:$1" -conf=/dev/null | sed -n "s/^$2: //p"
}
# expect_stat PORT NAME VALUE
expect_stat() {
	local v
	v=$(srv_stat "$1" "$2")
	if [ "$v" = "$3" ]; then pass "server statistic $2 is $3"
	else fail "server statistic $2 is '$v', expected $3"; fi
}
# srv_log DIR: the request log of the server in DIR (imgserv -log), in
# $WORK/srvlog
srv_log() {
	SRV_LOG_DIR=$1
	"$IMGSERV" -log -state="$1/state" -conf=/dev/null >"$WORK/srvlog" 2>&1 || fail "imgserv -log"
	sed 's/^/#   log: /' "$WORK/srvlog"
}
# srv_log_has REGEX: a record of srv_log's server matches REGEX (read anew)
srv_log_has() {
	"$IMGSERV" -log -state="$SRV_LOG_DIR/state" -conf=/dev/null >"$WORK/srvlog" 2>/dev/null &&
		grep -Eq -- "$1" "$WORK/srvlog"
}
# srv_log_expect REGEX WHAT: a record of the request log matches REGEX.
# The server records a request when it is done with it, which may be after
# its client went on: the log is read again until it matches (30 s).
srv_log_expect() {
	if grep -Eq -- "$1" "$WORK/srvlog" || wait_until 30 srv_log_has "$1"; then pass "server log: $2"
	else fail "server log: $2: no record matches /$1/"; fi
}
# mkkey FILE: a fresh site key
mkkey() { head -c 32 /dev/urandom | base64 >"$1" && chmod 600 "$1"; }
srv_cleanup() {
	local p
	for p in "${E2E_SERVERS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${E2E_SERVERS[@]}"; do wait "$p" 2>/dev/null; done
}

# ---- multicast sessions --------------------------------------------------
# A network test bed (tests/netbed/netbed.sh) for img -session: node m is
# 198.18.0.1, node I is 198.18.0.(10+I); only 198.18.0.0/24 and groups in
# 231.0.0.0/8 are used.  bed_up PREFIX N [netbed options...] (re)builds the
# bed; it skips (77) when namespaces cannot be made here, and the bed and
# every img started by sess_start are removed at exit.
NETBED=${NETBED:-$(cd "$E2E_DIR/../netbed" && pwd)/netbed.sh}
BED_PREFIX=""
declare -A SESS_PID=() SESS_T0=() SESS_RCS=()
bed_exit() {
	local rc=$? t
	for t in "${!SESS_PID[@]}"; do kill "${SESS_PID[$t]}" 2>/dev/null; done
	[ -n "$BED_PREFIX" ] && "$NETBED" down "$BED_PREFIX"
	(exit $rc)
	e2e_cleanup
}
bed_up() {
	local p=$1 t
	for t in ip tc nft ethtool timeout; do
		command -v $t >/dev/null 2>&1 || skip "missing tool $t (network test bed)"
	done
	if [ -z "$BED_PREFIX" ]; then
		ip netns add "$p-probe" 2>/dev/null || skip "cannot make network namespaces here"
		ip netns del "$p-probe"
		trap bed_exit EXIT
	fi
	BED_PREFIX=$p
	note "netbed up $*"
	if ! "$NETBED" up "$@" >"$WORK/netbed.log" 2>&1; then
		sed 's/^/#   /' "$WORK/netbed.log"
		fatal "netbed up $*"
	fi
}
bed_down() { [ -n "$BED_PREFIX" ] && "$NETBED" down "$BED_PREFIX"; }
bed_addr() { "$NETBED" addr "$1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# sess_start TAG NODE SECS IMG-ARGS...: img in bed node NODE (m or 1..N) in
# the background, bounded by SECS; output in $WORK/TAG.out and TAG.err.
# With SESS_KEYS=DELAY:KEY its standard input is `(sleep DELAY; echo KEY)`,
# else /dev/null.  A kill -9 shows as exit 137, a timeout as 124.
sess_start() {
	local tag=$1 node=$2 secs=$3
	shift 3
	note "[$tag on node $node] img $*${SESS_KEYS:+ (stdin: sleep ${SESS_KEYS%%:*}; echo ${SESS_KEYS#*:})}"
	SESS_T0[$tag]=$(now)
	rm -f "$WORK/$tag.end"
	if [ -n "${SESS_KEYS:-}" ]; then
		( (sleep "${SESS_KEYS%%:*}"; echo "${SESS_KEYS#*:}") |
			timeout -k 5 "$secs" "$NETBED" exec "$BED_PREFIX" "$node" "$IMG" "$@" \
			>"$WORK/$tag.out" 2>"$WORK/$tag.err"
		  rc=$?; now >"$WORK/$tag.end"; exit $rc ) 2>/dev/null &
	else
		( timeout -k 5 "$secs" "$NETBED" exec "$BED_PREFIX" "$node" "$IMG" "$@" \
			>"$WORK/$tag.out" 2>"$WORK/$tag.err" </dev/null
		  rc=$?; now >"$WORK/$tag.end"; exit $rc ) 2>/dev/null &
	fi
	SESS_PID[$tag]=$!
}
# sess_wait TAG: waits for it; RC is its exit status (124: timed out);
# prints its stderr indented and its run time as a note
sess_wait() {
	local tag=$1
	wait "${SESS_PID[$tag]}"
	RC=$?
	unset "SESS_PID[$tag]"
	SESS_RCS[$tag]=$RC
	note "[$tag] exit $RC after $(sess_secs "$tag") s"
	if [ -s "$WORK/$tag.err" ]; then
		tr '\r' '\n' <"$WORK/$tag.err" | grep -v 'ETA [0-9-]' | grep . | tail -25 |
			sed "s/^/#   $tag: /"
	fi
	[ "$RC" = 124 ] && fail "[$tag] img did not finish in time (killed by timeout)"
	return 0
}
# sess_secs TAG [FROM]: seconds from FROM (a `now`; default: its start)
# to the end of the img run TAG
sess_secs() {
	awk -v a="${2:-${SESS_T0[$1]}}" -v b="$(cat "$WORK/$1.end" 2>/dev/null || now)" \
		'BEGIN { printf "%.1f", b - a }'
}
# sess_running TAG: 0 while it runs
sess_running() { [ -n "${SESS_PID[$1]:-}" ] && kill -0 "${SESS_PID[$1]}" 2>/dev/null; }
# sess_kill9 NODE: kill -9 every process in receiver node NODE's namespace
sess_kill9() { ip netns pids "$BED_PREFIX-r$1" 2>/dev/null | xargs -r kill -9; }
# sess_grep TAG REGEX: an "img: " line of TAG's stderr matches REGEX (ERE, any case)
sess_grep() { grep '^img: ' "$WORK/$1.err" | grep -Eiq -- "$2"; }
# sess_expect_err TAG REGEX WHAT
sess_expect_err() {
	if sess_grep "$1" "$2"; then pass "$3: message matches /$2/"
	else fail "$3: no 'img: ' line of [$1] matches /$2/ (stderr: $(tr '\r' '\n' <"$WORK/$1.err" | grep -v 'ETA [0-9-]' | tail -c 400 | tr '\n' ' '))"; fi
}
# sess_wait_for TAG REGEX SECS: waits until TAG's stderr matches REGEX
# (any line, ERE, any case); 1 when it did not within SECS
sess_wait_for() { wait_until "$3" grep -Eiq -- "$2" "$WORK/$1.err"; }
# sess_written FILE: bytes allocated in a (sparse) target file
sess_written() { echo $(($(stat -c %b "$1") * 512)); }
# sess_group NAME: the group img-protocol(7) gives NAME, computed without img
sess_group() {
	python3 -c 'import hashlib, sys
d = hashlib.sha256(sys.argv[1].lower().encode("ascii")).digest()
print("231.%d.%d.%d" % (d[0], d[1], d[2]))' "$1"
}
# sess_master_report TAG NAME NODE STATE: the master TAG's end report has
# "img: session NAME: ADDR (...): STATE" for receiver NODE
sess_master_report() {
	local a
	a=$(bed_addr "$3")
	a=${a//./\\.}
	if grep -Eiq "^img: session $2: $a( \\([^)]*\\))?: $4" "$WORK/$1.err"; then
		pass "[$1] reports receiver $3 ($(bed_addr "$3")): $4"
	else
		fail "[$1] does not report receiver $3 ($(bed_addr "$3")) as $4 (report: $(grep -Ei "^img: session $2: 198" "$WORK/$1.err" | tr '\n' ' '))"
	fi
}
