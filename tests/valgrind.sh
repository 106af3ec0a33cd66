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
# SIGHUP with --flag-country and --flag-asn (a reload once freed the flagged sets, and exit
# freed them again): a live run on lo, two reloads, SIGTERM. Needs root for the capture.
if [ "$(id -u)" -eq 0 ]; then
    allow=$(mktemp); printf 'port=9997\n' >"$allow"
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --suppressions=tests/valgrind.supp \
        "$EXFLOW" -q -i lo -w /dev/null --allowlist "$allow" --stats-interval 0 \
        --geoip-city geo/testdata/GeoIP2-City-Test.mmdb --geoip-asn geo/testdata/GeoLite2-ASN-Test.mmdb \
        --flag-country RU,KP --flag-asn 64500,15169 >/dev/null 2>"$out_dir/sighup.log" &
    pid=$!
    sleep 8   # valgrind's start-up; the reload waits for the capture loop anyway
    kill -HUP "$pid"; sleep 2; kill -HUP "$pid"; sleep 2
    kill -TERM "$pid"; wait "$pid"; rc=$?
    rm -f "$allow"
    if [ "$rc" -eq 0 ]; then
        echo "ok   sighup-flagged-geo"; passed=$((passed + 1))
    else
        echo "FAIL sighup-flagged-geo (exit $rc)"; head -n 40 "$out_dir/sighup.log"; failed=$((failed + 1))
    fi
fi
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
