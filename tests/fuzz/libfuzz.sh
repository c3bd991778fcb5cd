#!/bin/bash
# libfuzz.sh SRCDIR SECONDS: the filesystem handlers' parsers under
# libFuzzer (clang -fsanitize=fuzzer,address,undefined) for SECONDS,
# starting from tests/fuzz/fs-corpus.  Fails on any crash, leak, hang
# (-timeout=10 per input) or broken extent contract; prints libFuzzer's
# figures.  tools/deps.txt installs clang and libclang-rt-14-dev.
set -u
src=$1 secs=$2
command -v clang >/dev/null || { echo "SKIP: clang is not installed"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/libfuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-DIMG_LIBFUZZER -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$src" -I"$src/src" -I"$src/partfmt" \
	"$src/tests/fuzz/fuzz_fs.c" "$src"/partfmt/{xfs,exfat,btrfs,f2fs,lvm,fat,swap,extents}.c "$src"/base/err.c \
	-lz -o "$work/fuzz_fs" 2>"$work/cc.err"; then
	if grep -q 'libclang_rt.fuzzer\|fuzzer.*not found\|cannot find.*fuzzer' "$work/cc.err"; then
		echo "SKIP: clang has no libFuzzer runtime (libclang-rt-14-dev)"; exit 77
	fi
	cat "$work/cc.err"; echo "FAIL: cannot build the libFuzzer target"; exit 1
fi
mkdir "$work/corpus"
cp "$src"/tests/fuzz/fs-corpus/*.pfz "$work/corpus/"
"$work/fuzz_fs" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=400000 \
	-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
rc=$?
grep -E '^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::new_units_added|cov:' "$work/log" | tail -4
if [ $rc != 0 ]; then
	grep -vE '^#[0-9]+ ' "$work/log" | tail -40
	for f in "$work"/crash-* "$work"/timeout-* "$work"/leak-*; do
		[ -e "$f" ] && echo "input that failed: $(basename "$f") ($(stat -c %s "$f") bytes): $(head -c 64 "$f" | od -An -tx1 | head -2 | tr -d '\n')"
	done
	echo "FAIL: libFuzzer stopped with exit $rc"
	exit 1
fi
echo "PASS: $secs s of libFuzzer on the filesystem handlers, no finding"
