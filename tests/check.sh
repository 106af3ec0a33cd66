#!/bin/sh
# `make check`: the whole suite on the plain build, then under AddressSanitizer and
# UndefinedBehaviorSanitizer, then valgrind memcheck on the golden pcaps, and one total line.
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
for variant in default address undefined; do
    if [ "$variant" = default ]; then san=""; else san="SANITIZER=$variant"; fi
    # shellcheck disable=SC2086
    ${MAKE:-make} --no-print-directory $san test 2>&1 | tee "tests/out/check-$variant.log"
    tally "$variant" "tests/out/check-$variant.log" "$(grep -c '^make.*Error' "tests/out/check-$variant.log")"
done
${MAKE:-make} --no-print-directory valgrind 2>&1 | tee tests/out/check-valgrind.log
tally valgrind tests/out/check-valgrind.log "$(grep -c '^make.*Error' tests/out/check-valgrind.log)"
echo "summary:$summary"
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
