#!/bin/sh
# Golden tests (tcpdump's TESTLIST + TESTrun): run exflow on each pcap, diff its JSON lines
# against tests/golden/expected/NAME.out, and fail on any stderr output. A missing expected
# file is a failure: expected files change only through `make bless`.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
out_dir="tests/out/golden-$(basename "$(dirname "$EXFLOW")")"
mkdir -p "$out_dir"
passed=0; failed=0
while read -r name pcap args; do
    case "$name" in ''|'#'*) continue ;; esac
    expected="tests/golden/expected/$name.out"
    # shellcheck disable=SC2086
    "$EXFLOW" -q -r "pcaps/golden/$pcap" $args >"$out_dir/$name.out" 2>"$out_dir/$name.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: exit $rc"; head -n 20 "$out_dir/$name.err"; failed=$((failed + 1))
    elif [ -s "$out_dir/$name.err" ]; then
        echo "FAIL $name: unexpected stderr"; head -n 20 "$out_dir/$name.err"; failed=$((failed + 1))
    elif [ ! -f "$expected" ]; then
        echo "FAIL $name: no expected output $expected (run make bless and review it)"
        failed=$((failed + 1))
    elif ! diff -u "$expected" "$out_dir/$name.out" >"$out_dir/$name.diff"; then
        echo "FAIL $name: output differs"; head -n 40 "$out_dir/$name.diff"; failed=$((failed + 1))
    else
        echo "ok   $name"; passed=$((passed + 1))
    fi
done < tests/golden/TESTLIST
echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
