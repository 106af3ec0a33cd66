#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Golden tests (tcpdump's TESTLIST + TESTrun): run exflow on each pcap, diff its JSON lines
# against tests/golden/expected/NAME.out, and fail on any stderr output. A missing expected
# file is a failure: expected files change only through `make bless`.
# Every case runs twice, with the default worker count and with --threads 4: the pipeline's
# output must not depend on the number of workers, so both must match the same file.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
out_dir="tests/out/golden-$(basename "$(dirname "$EXFLOW")")"
# A fixed sensor name and run id make event_id and sensor reproducible (bless.sh uses the same).
ids="--sensor-name golden --run-id 00000000-0000-4000-8000-000000000000"
mkdir -p "$out_dir"
passed=0; failed=0
for threads in default 4; do
    if [ "$threads" = default ]; then thread_args=""; suffix=""; else
        thread_args="--threads $threads"; suffix=" (--threads $threads)"; fi
    while read -r name pcap args; do
        case "$name" in ''|'#'*) continue ;; esac
        expected="tests/golden/expected/$name.out"
        out="$out_dir/$name-threads-$threads"
        # shellcheck disable=SC2086
        "$EXFLOW" -q $ids $thread_args -r "pcaps/golden/$pcap" $args >"$out.out" 2>"$out.err"
        rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "FAIL $name$suffix: exit $rc"; head -n 20 "$out.err"; failed=$((failed + 1))
        elif [ -s "$out.err" ]; then
            echo "FAIL $name$suffix: unexpected stderr"; head -n 20 "$out.err"; failed=$((failed + 1))
        elif [ ! -f "$expected" ]; then
            echo "FAIL $name$suffix: no expected output $expected (run make bless and review it)"
            failed=$((failed + 1))
        elif ! diff -u "$expected" "$out.out" >"$out.diff"; then
            echo "FAIL $name$suffix: output differs"; head -n 40 "$out.diff"; failed=$((failed + 1))
        else
            echo "ok   $name$suffix"; passed=$((passed + 1))
        fi
    done < tests/golden/TESTLIST
done
echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
