#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Part of `make test`/`make check`: every input in tests/fuzz/regressions/<harness>/ (crashes
# found and fixed) and tests/fuzz/seeds/<harness>/ (a few small valid inputs) runs once
# through its harness, built with clang, ASan and UBSan by tests/fuzz/fuzz.mk. Fast: no
# fuzzing happens here. Prints "fuzz-regressions: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
out=build/fuzz
passed=0; failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

command -v clang >/dev/null 2>&1 || {
    fail "clang missing: install it with scripts/deps.sh --test"
    echo "fuzz-regressions: $passed passed, $failed failed"; exit 1; }
mkdir -p "$out"
if ! make --no-print-directory -f tests/fuzz/fuzz.mk -j2 >"$out/regressions-build.log" 2>&1; then
    tail -n 30 "$out/regressions-build.log"
    fail "harness build (clang), see $out/regressions-build.log"
    echo "fuzz-regressions: $passed passed, $failed failed"; exit 1
fi

# libFuzzer runs each file given on the command line once and exits non-zero on a crash,
# a sanitizer report, a leak or a timeout.
for h in fuzz_decode fuzz_flows fuzz_detect_parsers fuzz_allowlist fuzz_state fuzz_spool fuzz_event \
         fuzz_collect fuzz_checkpoint fuzz_zeek fuzz_rescore; do
    name=${h#fuzz_}
    for kind in regressions seeds; do
        dir=tests/fuzz/$kind/$name
        files=$(find "$dir" -type f ! -name 'README*' 2>/dev/null | sort)
        [ -n "$files" ] || continue
        count=$(printf '%s\n' "$files" | wc -l)
        log="$out/regressions-$name-$kind.log"
        # shellcheck disable=SC2086
        if "$out/$h" -timeout=20 -rss_limit_mb=2048 $files >"$log" 2>&1; then
            echo "ok   $h $kind ($count inputs)"; passed=$((passed + 1))
        else
            fail "$h $kind: see $log"
            grep -E 'Running:|ERROR|SUMMARY|runtime error|#[0-9] 0x' "$log" | tail -n 20
        fi
    done
done
echo "fuzz-regressions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
