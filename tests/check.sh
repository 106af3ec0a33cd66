#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# `make check`: the whole suite on the plain build, then in one build under AddressSanitizer
# and UndefinedBehaviorSanitizer together (SANITIZER=address), the threaded parts under ThreadSanitizer, then valgrind memcheck
# on the golden pcaps, and one total line.
set -u
passed=0; failed=0
summary=""
tally() {   # tally LABEL LOGFILE EXIT-STATUS
    line=$(grep -E '^[a-z_-]+: [0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p'); p=${p:-0}
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p'); f=${f:-0}
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    summary="$summary
  $1: $p passed, $f failed"
}
mkdir -p tests/out
for variant in default address; do
    if [ "$variant" = default ]; then san=""; else san="SANITIZER=$variant"; fi
    # shellcheck disable=SC2086
    ${MAKE:-make} --no-print-directory $san test 2>&1 | tee "tests/out/check-$variant.log"
    tally "$variant" "tests/out/check-$variant.log" "$(grep -c '^make.*Error' "tests/out/check-$variant.log")"
done
# ThreadSanitizer where threads meet: the pipeline's unit tests (1 to 7 workers), the
# golden captures, each run with the default worker count and with --threads 4, and the
# robustness checks. A report makes the program exit 66, which fails the case.
${MAKE:-make} --no-print-directory SANITIZER=thread unit 2>&1 | tee tests/out/check-thread-unit.log
tally thread-unit tests/out/check-thread-unit.log "$(grep -c '^make.*Error' tests/out/check-thread-unit.log)"
${MAKE:-make} --no-print-directory SANITIZER=thread build/thread/exflow > tests/out/check-thread-build.log 2>&1
EXFLOW=build/thread/exflow ./tests/golden/run.sh 2>&1 | tee tests/out/check-thread-golden.log
tally thread-golden tests/out/check-thread-golden.log "$(grep -c '^make.*Error' tests/out/check-thread-build.log)"
# And the live runs (lo, --fanout with its worker-owned captures, an interface that goes away):
# the robustness checks fail a run whose stderr has a sanitizer report.
BUILD=build/thread EXFLOW=build/thread/exflow ./tests/robustness/run.sh 2>&1 | tee tests/out/check-thread-robustness.log
tally thread-robustness tests/out/check-thread-robustness.log "$(grep -q '^robustness: [0-9]* passed' tests/out/check-thread-robustness.log; echo $?)"
${MAKE:-make} --no-print-directory valgrind 2>&1 | tee tests/out/check-valgrind.log
tally valgrind tests/out/check-valgrind.log "$(grep -c '^make.*Error' tests/out/check-valgrind.log)"
echo "summary:$summary"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
