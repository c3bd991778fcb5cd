#!/bin/sh
# golden.sh IMAGE SHAFILE: an image of format version 1 committed to the
# tree restores to exactly the disk it was made from (SHA-256 and size in
# SHAFILE).  A reader change that breaks old images fails here.
set -u
img=$1 want=$(sed -n 1p "$2") size=$(sed -n 2p "$2")
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
truncate -s "$size" "$dir/disk" || exit 1
"$IMG" -restorel "$img" -disk="$dir/disk" || { echo "FAIL: restore of $img failed"; exit 1; }
got=$(sha256sum "$dir/disk" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "FAIL: $img restored to $got, expected $want"
	exit 1
fi
echo "ok: $img restores to $want"
