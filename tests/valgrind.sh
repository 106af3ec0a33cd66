#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# memcheck on every golden pcap: no leak, no invalid access. Prints "valgrind: N passed, N failed".
set -u
: "${EXFLOW:=build/default/exflow}"
export TZ=UTC LC_ALL=C
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed"; echo "valgrind: 0 passed, 1 failed"; exit 1; }
out_dir=tests/out/valgrind; mkdir -p "$out_dir"
passed=0; failed=0
for pcap in pcaps/golden/*.pcap; do
    name=$(basename "$pcap" .pcap)
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --suppressions=tests/valgrind.supp \
        "$EXFLOW" -q -r "$pcap" --geoip-city geo/testdata/GeoIP2-City-Test.mmdb \
        >/dev/null 2>"$out_dir/$name.log"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name"; passed=$((passed + 1))
    else
        echo "FAIL $name (exit $rc)"; head -n 40 "$out_dir/$name.log"; failed=$((failed + 1))
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
