#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Where exflow spends its time, for docs/README-bench.md's hot-spot list. Not run by any
# make target: ./tests/bench/profile.sh [perf|callgrind] after `make bench` built the tools.
#
#   perf:      perf record on a 1 M packet capture of the bench mix; top symbols by self
#              time, and the source lines of flow_table_process that take its samples.
#   callgrind: valgrind --tool=callgrind on 200 k packets; top functions by inclusive
#              instructions (exact, repeatable, but blind to cache misses).
set -u

EXFLOW=${EXFLOW:-build/default/exflow}
BUILD=${BUILD:-build/default}
BENCH_DIR=${BENCH_DIR:-bench-data}
MODE=${1:-perf}
GEN=$BUILD/tools/gen_traffic
ARGS="-q --no-flows -w /dev/null"

die() { echo "profile: $*" >&2; exit 2; }
if [ ! -x "$EXFLOW" ] || [ ! -x "$GEN" ]; then
    die "build first: make bench"
fi
mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"

case $MODE in
perf)
    command -v perf > /dev/null || die "perf not installed (Debian: linux-perf)"
    pcap=$BENCH_DIR/profile-1000000.pcap
    [ -s "$pcap" ] || "$GEN" "$pcap" 1000000 --duration 120 || die "gen_traffic failed"
    cat "$pcap" > /dev/null
    data=$BENCH_DIR/perf.data
    # shellcheck disable=SC2086  # ARGS is a word list on purpose
    perf record -q -F 999 -o "$data" "$EXFLOW" $ARGS -r "$pcap" || die "perf record failed"
    echo "== self time by symbol =="
    perf report -i "$data" --sort dso,symbol --stdio 2> /dev/null | grep -E '^ +[0-9]' | head -n 30
    echo "== flow_table_process by source line =="
    perf annotate -i "$data" --stdio -l -s flow_table_process 2> /dev/null |
        grep -E '^ +[0-9.]+ +[a-z_]+\.c:[0-9]+' | head -n 10
    ;;
callgrind)
    command -v valgrind > /dev/null || die "valgrind not installed"
    pcap=$BENCH_DIR/profile-200000.pcap
    [ -s "$pcap" ] || "$GEN" "$pcap" 200000 --duration 24 || die "gen_traffic failed"
    out=$BENCH_DIR/callgrind.out
    # shellcheck disable=SC2086
    valgrind -q --tool=callgrind --callgrind-out-file="$out" "$EXFLOW" $ARGS -r "$pcap" ||
        die "valgrind failed"
    callgrind_annotate --inclusive=yes "$out" 2> /dev/null | sed -n '/file:function/,$p' | head -n 45
    ;;
*)
    die "usage: $0 [perf|callgrind]"
    ;;
esac
