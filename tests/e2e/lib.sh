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
WORK=""

skip() { echo "SKIP: $*"; exit 77; }
note() { echo "# $*"; }
pass() { echo "ok - $*"; E2E_CHECKS=$((E2E_CHECKS + 1)); }
fail() { echo "FAIL - $*"; E2E_CHECKS=$((E2E_CHECKS + 1)); E2E_FAILS=$((E2E_FAILS + 1)); }
# a failed step the rest of the test depends on
fatal() { fail "$*"; echo "FAIL: aborting $E2E_NAME"; exit 1; }

e2e_cleanup() {
	local rc=$? i
	declare -F srv_cleanup >/dev/null && srv_cleanup
	for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${E2E_MOUNTS[i]}" 2>/dev/null || umount -l "${E2E_MOUNTS[i]}" 2>/dev/null
	done
	for i in "${E2E_LOOPS[@]}"; do
		losetup -d "$i" 2>/dev/null
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
	local dir=$1 port i
	shift
	[ -x "$IMGSERV" ] || fatal "no imgserv binary at $IMGSERV"
	mkdir -p "$dir"
	[ -f "$dir/imgserv.conf" ] || : >"$dir/imgserv.conf"
	for i in $(seq 50); do
		port=$((20000 + RANDOM % 9000))
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || break
	done
	"$IMGSERV" -foreground -i:127.0.0.1 -port="$port" -store="$dir/store" \
		-state="$dir/state" -conf="$dir/imgserv.conf" -pidfile="$dir/pid" \
		"$@" 2>>"$dir/log" &
	SRV_PID=$!
	SRV_PORT=$port
	E2E_SERVERS+=("$SRV_PID")
	for i in $(seq 100); do
		"$IMGSERV" -status -i "127.0.0.1:$port" -conf=/dev/null >/dev/null 2>&1 && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	sed 's/^/#   server: /' "$dir/log"
	fatal "imgserv did not start on port $port"
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
# mkkey FILE: a fresh site key
mkkey() { head -c 32 /dev/urandom | base64 >"$1" && chmod 600 "$1"; }
srv_cleanup() {
	local p
	for p in "${E2E_SERVERS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${E2E_SERVERS[@]}"; do wait "$p" 2>/dev/null; done
}
