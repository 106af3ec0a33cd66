#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# One build's whole suite. Each part prints "<part>: N passed, N failed"; this adds them up.
# BUILD and EXFLOW come from the Makefile (plain, ASan or UBSan build).
set -u
: "${BUILD:=build/default}" "${EXFLOW:=$BUILD/exflow}"
export BUILD EXFLOW TZ=UTC LC_ALL=C
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=99"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
log_dir="tests/out/$(basename "$BUILD")"
mkdir -p "$log_dir"

# The default build keeps the events its tests write (tests/events, the scenarios) for one
# schema check at the end, with the golden outputs.
events_dir=""
if [ "$(basename "$BUILD")" = default ]; then
    events_dir="$log_dir/events"
    rm -rf "$events_dir"; mkdir -p "$events_dir"
    export EXFLOW_EVENTS_DIR="$events_dir"
fi

total_passed=0; total_failed=0
run_part() {
    name=$1; shift
    [ -x "$1" ] || { echo "$name: skipped ($1 missing)"; return; }
    echo "== $name ($(basename "$BUILD"))"
    "$@" >"$log_dir/$name.log" 2>&1
    rc=$?
    grep -v -E '^(ok|PASS) ' "$log_dir/$name.log" | tail -n 40
    line=$(grep -E '^[a-z_-]+: [0-9]+ passed, [0-9]+ failed' "$log_dir/$name.log" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$name: exited $rc"; fi
    total_passed=$((total_passed + p)); total_failed=$((total_failed + f))
}

run_part unit ./tests/run-unit.sh $(ls "$BUILD"/tests/test_* 2>/dev/null | grep -v '\.d$')
run_part golden ./tests/golden/run.sh
# The tshark cross-check judges exflow's numbers, not its memory: the golden part already
# runs the same captures under the sanitizers.
[ "$(basename "$BUILD")" = default ] && run_part tshark ./tests/golden/tshark-check.sh
run_part scenarios ./tests/scenarios/run.sh
run_part restart ./tests/scenarios/restart.sh
run_part public ./tests/scenarios/public.sh
run_part cli ./tests/cli/run.sh
run_part options ./tests/cli/options.sh
run_part report ./tests/report/run.sh
run_part rescore ./tests/report/rescore.sh
run_part syslog ./tests/syslog/run.sh
run_part collect ./tests/collect/run.sh
run_part zeek ./tests/zeek/run.sh
run_part shared-state ./tests/shared-state/run.sh
run_part robustness ./tests/robustness/run.sh
run_part security ./tests/security/run.sh
run_part fuzz-regressions ./tests/fuzz/regressions.sh
run_part docs ./tests/docs/run.sh
run_part package ./tests/package/run.sh
run_part events ./tests/events/run.sh
[ -n "$events_dir" ] && run_part schema ./tests/schema/run.sh "tests/out/golden-$(basename "$BUILD")" "$events_dir"

echo "logs in $log_dir"
echo "$(basename "$BUILD"): $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
