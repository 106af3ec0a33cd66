#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# `make fuzz`: builds every libFuzzer harness (tests/fuzz/fuzz.mk) and runs each for
# FUZZ_SECONDS (default 60) on one core, seeded from the public captures, the committed
# seeds and the regression inputs. A crash input is copied to
# tests/fuzz/regressions/<harness>/ (rename it for the bug once understood) and the run
# fails. Prints "fuzz: N passed, N failed".
#   FUZZ_SECONDS=300 tests/fuzz/run.sh [harness...]     e.g. fuzz_flows
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${FUZZ_SECONDS:=60}"
: "${PUBLIC_PCAPS:=../shared/pcaps/public}"
out=build/fuzz
all="fuzz_decode fuzz_flows fuzz_detect_parsers fuzz_allowlist fuzz_state fuzz_spool fuzz_event fuzz_collect fuzz_checkpoint fuzz_zeek fuzz_rescore"
harnesses=${*:-$all}

command -v clang >/dev/null 2>&1 || { echo "fuzz: clang missing (scripts/deps.sh --test)"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
make --no-print-directory -f tests/fuzz/fuzz.mk -j2 >"$out.build.log" 2>&1 || {
    mkdir -p "$out"; tail -n 30 "$out.build.log"; echo "fuzz: 0 passed, 1 failed"; exit 1; }

# Seeds: the public captures (if present), the golden ones, the allowlist example and a
# state file that exflow itself wrote.
rm -rf "$out/seeds"
mkdir -p "$out/seeds"
state="$out/seeds/state.txt"
exflow=${EXFLOW:-build/default/exflow}
if [ -x "$exflow" ]; then
    "$exflow" -q -r pcaps/golden/*.pcap --state-file "$state" -w /dev/null || true
fi
[ -f "$state" ] && state_arg="--state $state" || state_arg=""
roots="pcaps/golden"
[ -d "$PUBLIC_PCAPS" ] && roots="$roots $PUBLIC_PCAPS"
# shellcheck disable=SC2086
python3 tests/fuzz/make_seeds.py "$out/seeds" $roots $state_arg

# Per-harness settings: inputs are frames, packet sequences or small text files.
max_len() {
    case $1 in
    fuzz_decode) echo 4096 ;;
    fuzz_flows|fuzz_detect_parsers|fuzz_collect) echo 65536 ;;
    fuzz_zeek) echo 70000 ;;   # past ZEEK_LINE_MAX: over-long lines too
    *) echo 16384 ;;
    esac
}

passed=0; failed=0
for h in $harnesses; do
    name=${h#fuzz_}
    corpus="$out/corpus-$name"      # grows across runs: what the fuzzer learnt is kept
    crashes="$out/crashes-$name"
    mkdir -p "$corpus" "$crashes" "tests/fuzz/regressions/$name"
    rm -f "$crashes"/*
    seeds="$out/seeds/corpus-$name"
    [ -d "$seeds" ] || seeds=""
    committed="tests/fuzz/seeds/$name"
    [ -d "$committed" ] || committed=""
    echo "== $h (${FUZZ_SECONDS}s)"
    # shellcheck disable=SC2086
    "$out/$h" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$h")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$corpus" $seeds $committed "tests/fuzz/regressions/$name" >"$out/$h.log" 2>&1
    rc=$?
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$out/$h.log" | tr '\n' ' '
    echo
    found=$(ls "$crashes" 2>/dev/null | wc -l)
    if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
        echo "ok   $h"; passed=$((passed + 1))
    else
        for f in "$crashes"/*; do
            [ -f "$f" ] && cp "$f" "tests/fuzz/regressions/$name/"
        done
        echo "FAIL $h (exit $rc, $found crash inputs copied to tests/fuzz/regressions/$name/)"
        grep -E 'ERROR|SUMMARY|runtime error|#[0-9] 0x' "$out/$h.log" | head -n 20
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
