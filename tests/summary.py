#!/usr/bin/env python3
# summary.py - the end of ./run-tests: reads meson's testlog.json of each
# half (NAME=BUILDDIR ...), prints the slowest ten tests, the skipped ones
# with their reasons, and as the very last line "N passed, N failed".
# A skip never counts as passed; a half without a test log (meson test
# did not get to run) counts as one failure.  Exit 0 when nothing failed.
import json
import os
import sys

PASSED = {"OK", "EXPECTEDFAIL"}
SKIPPED = {"SKIP"}

passed = failed = 0
skips = []
times = []
for arg in sys.argv[1:]:
    half, builddir = arg.split("=", 1)
    path = os.path.join(builddir, "meson-logs", "testlog.json")
    try:
        with open(path) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"{half}: no test log ({e})")
        failed += 1
        continue
    for r in records:
        name = r["name"].split(" / ")[-1]
        result = r.get("result", "ERROR")
        times.append((r.get("duration", 0.0), half, name, result))
        if result in PASSED:
            passed += 1
        elif result in SKIPPED:
            reason = ""
            out = (r.get("stdout") or "") + "\n" + (r.get("stderr") or "")
            for line in out.splitlines():
                if line.startswith("SKIP") or (not reason and line.strip()):
                    reason = line.split(":", 1)[-1].strip()
            skips.append(f"{half}/{name} ({reason or 'no reason given'})")
        else:
            failed += 1

print("slowest ten:")
for d, half, name, result in sorted(times, reverse=True)[:10]:
    print(f"  {d:6.1f} s  {half:10} {name}  {result}")
if skips:
    print(f"{len(skips)} skipped: " + ", ".join(skips))
else:
    print("0 skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
