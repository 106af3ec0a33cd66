#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# `make soak`: live capture under load for SOAK_SECONDS (default 60, at most 3600) while
# watching memory. A network namespace of our own holds a veth pair; exflow captures on one
# end, tcpreplay replays the golden Ethernet captures in a loop on the other, at full speed
# unless SOAK_MBPS is set. Nothing leaves the namespace (its only addresses are 10.x on the
# pair). exflow's RSS is sampled every SOAK_SAMPLE seconds; the run passes when the last
# sample is below 1.5x the sample at 25% of the run plus 4 MiB, the final SIGTERM exits 0
# and no sanitizer report appears. Short flow timeouts make flows end and start again all
# through the run, so a leak per flow shows within a minute. Needs root.
# Prints "soak: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${EXFLOW:=build/default/exflow}"
: "${SOAK_SECONDS:=60}"
: "${SOAK_SAMPLE:=3}"
: "${SOAK_MBPS:=}"
: "${SOAK_ARGS:=}"     # more exflow options, e.g. --no-immediate or --threads 2
passed=0; failed=0
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() { echo "soak: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

[ "$SOAK_SECONDS" -ge 10 ] 2>/dev/null && [ "$SOAK_SECONDS" -le 3600 ] \
    || { fail "SOAK_SECONDS must be 10..3600"; finish; }
[ "$(id -u)" -eq 0 ] || { fail "needs root (network namespace, live capture)"; finish; }
[ -x "$EXFLOW" ] || { fail "no exflow at $EXFLOW (make)"; finish; }
if ! command -v tcpreplay >/dev/null 2>&1; then
    echo "soak: installing tcpreplay (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tcpreplay >/dev/null 2>&1 \
        || { fail "tcpreplay missing and could not be installed"; finish; }
fi

ns="exflow-soak-$$"
a="xsoak$$a"; b="xsoak$$b"     # 15 characters at most
tmp=$(mktemp -d)
exflow_pid=""; replay_pid=""
cleanup() {
    [ -n "$replay_pid" ] && kill "$replay_pid" 2>/dev/null
    [ -n "$exflow_pid" ] && kill -9 "$exflow_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$ns" || { fail "ip netns add"; finish; }
ip -n "$ns" link add "$a" type veth peer name "$b" || { fail "veth pair"; finish; }
ip -n "$ns" addr add 10.254.0.1/30 dev "$a"
ip -n "$ns" addr add 10.254.0.2/30 dev "$b"
ip -n "$ns" link set lo up
ip -n "$ns" link set "$a" up
ip -n "$ns" link set "$b" up

# The golden captures with an Ethernet link type, as tcpreplay sends frames as they are.
replay_files=$(python3 - pcaps/golden/*.pcap <<'EOF'
import struct, sys
for path in sys.argv[1:]:
    head = open(path, 'rb').read(24)
    if len(head) == 24 and head[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') and \
            struct.unpack('<I', head[20:24])[0] == 1:
        print(path)
EOF
)
[ -n "$replay_files" ] || { fail "no Ethernet captures in pcaps/golden"; finish; }

# shellcheck disable=SC2086  # $SOAK_ARGS is a word list on purpose
ip netns exec "$ns" "$EXFLOW" -i "$b" -w "$tmp/events.json" --stats-interval 10 \
    --idle-timeout 5s --udp-idle-timeout 5s --active-timeout 30s --flow-memory 64 $SOAK_ARGS \
    >/dev/null 2>"$tmp/exflow.err" &
exflow_pid=$!
sleep 2
kill -0 "$exflow_pid" 2>/dev/null || { fail "exflow did not start"; head -n 5 "$tmp/exflow.err"; finish; }

if [ -n "$SOAK_MBPS" ]; then rate="--mbps=$SOAK_MBPS"; else rate="--topspeed"; fi
# shellcheck disable=SC2086
ip netns exec "$ns" nice -n 5 tcpreplay -q -i "$a" $rate --loop=0 $replay_files >"$tmp/replay.log" 2>&1 &
replay_pid=$!

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$exflow_pid/status" 2>/dev/null; }
quarter=$((SOAK_SECONDS / 4))
elapsed=0; samples=""; rss_quarter=""; rss_max=0
while [ "$elapsed" -lt "$SOAK_SECONDS" ]; do
    sleep "$SOAK_SAMPLE"; elapsed=$((elapsed + SOAK_SAMPLE))
    r=$(rss)
    [ -n "$r" ] || { fail "exflow died after ${elapsed}s"; tail -n 20 "$tmp/exflow.err"; finish; }
    samples="$samples $r"
    [ -z "$rss_quarter" ] && [ "$elapsed" -ge "$quarter" ] && rss_quarter=$r
    [ "$r" -gt "$rss_max" ] && rss_max=$r
done
rss_final=$r
kill -INT "$replay_pid" 2>/dev/null; wait "$replay_pid" 2>/dev/null; replay_pid=""
kill -TERM "$exflow_pid"; wait "$exflow_pid"; rc=$?; exflow_pid=""

echo "RSS KiB every ${SOAK_SAMPLE}s:$samples"
echo "RSS KiB at 25%: $rss_quarter, final: $rss_final, max: $rss_max"
grep -E 'Actual|Rated|Statistics|Successful|Failed' "$tmp/replay.log" | sed 's/^/tcpreplay: /' | head -n 6
grep 'stats(' "$tmp/exflow.err" | tail -n 1 | tr ' ' '\n' | \
    grep -E '^(packets|bytes|decoded|pcap_received|pcap_dropped|pcap_if_dropped|flows_created|flows_evicted|records|alerts|flows_written|write_errors|max_rss_kib|cpu_capture_s|cpu_workers_s|cpu_consumer_s)=' | \
    tr '\n' ' ' | sed 's/^/exflow: /'
echo
# Per packet: what each stage cost and how much the kernel dropped (pcap_received counts both).
grep 'stats(' "$tmp/exflow.err" | tail -n 1 | tr ' ' '\n' | awk -F= '
    { v[$1] = $2 }
    END {
        if (v["packets"] > 0)
            printf "per packet: capture %.0f ns, workers %.0f ns, consumer %.0f ns (CPU); ",
                   v["cpu_capture_s"] * 1e9 / v["packets"], v["cpu_workers_s"] * 1e9 / v["packets"],
                   v["cpu_consumer_s"] * 1e9 / v["packets"]
        if (v["pcap_received"] > 0)
            printf "dropped %.1f%%", 100 * v["pcap_dropped"] / v["pcap_received"]
        print ""
    }'
echo "events written: $(wc -l <"$tmp/events.json") lines"

[ "$rc" -eq 0 ] && ok "SIGTERM after ${SOAK_SECONDS}s: exit 0" || fail "exit $rc after SIGTERM"
grep -q -E 'Sanitizer|runtime error' "$tmp/exflow.err" && fail "sanitizer report" || ok "no sanitizer report"
packets=$(grep 'stats(' "$tmp/exflow.err" | tail -n 1 | tr ' ' '\n' | sed -n 's/^packets=//p')
[ "${packets:-0}" -gt 1000 ] && ok "captured ${packets} packets" || fail "captured only ${packets:-0} packets"
limit=$((rss_quarter * 3 / 2 + 4096))
[ "$rss_final" -le "$limit" ] && ok "RSS flat: ${rss_final} KiB at the end <= ${limit} KiB (1.5x ${rss_quarter} + 4 MiB)" \
    || fail "RSS grew: ${rss_final} KiB at the end > ${limit} KiB (1.5x ${rss_quarter} + 4 MiB)"
finish
