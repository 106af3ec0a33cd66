#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Re-scoring saved flow events (`exflow -r EVENTS.jsonl`): detection over the flow events a
# run wrote raises the same alerts as the captures did, and writes the same flow events: with
# the same --run-id the two outputs are the same bytes, stats events aside (they count
# packets and CPU time);
# a new allowlist or threshold over the saved events does what it does over the captures;
# bad lines are counted and skipped.
#
# The scenarios (tests/scenarios/manifest.tsv, gate "check") are a subset that covers every
# kind of evidence: http_upload, packed_data, periodic (ps_upload), ftp_stor in active mode
# (ftp_stor_active), ftp_stor + small_upload (ftp_small_stor), ssh_upload (sftp_hourly),
# cloud_storage (tls_mega), parallel_streams (rclone_multistream), bulk_upload
# (bulk_http_50m), dns_tunnel (dns_iodine), icmp_tunnel (icmp_ptunnel), smtp_exfil
# (smtp_stealer), persistent (jitter_tls_24h), periodic over the upload bursts of one
# keep-alive connection (keepalive_http_6h), a group of destinations (rotate_ip24), a
# learned mail server (smtp_relay, no alert) and one with the allowlist (allowlisted_sync);
# and the restarts (restart_zip: two runs that share a state file).
# The whole check-gated corpus agrees too; RESCORE_ALL=1 runs every scenario (about a minute).
set -u
: "${EXFLOW:=./exflow}" "${BUILD:=build/default}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
run_id=--run-id=3d6f0a2b-8c1e-4f5a-9b7d-2e4c6a8f0b1d
same() {   # NAME CAPTURES-OUTPUT EVENTS-OUTPUT: same events, byte for byte, stats aside
    grep -v '"event_type":"stats"' "$2" >"$tmp/same.a"
    grep -v '"event_type":"stats"' "$3" >"$tmp/same.b"
    if [ -s "$tmp/same.a" ] && cmp -s "$tmp/same.a" "$tmp/same.b"; then
        ok "$1: the captures' $(grep -c '"event_type":"alert"' "$2") alert(s) and flows again"
    else
        fail "$1: outputs differ"
        python3 tests/report/same_alerts.py "$2" "$3" | head -n 8
        diff "$tmp/same.a" "$tmp/same.b" | head -n 4 | cut -c 1-300
    fi
}
crashed() {   # STDERR-FILE EXIT-STATUS: a crash or a sanitizer report
    [ "$2" -ge 128 ] || [ "$2" -eq 99 ] || grep -q -E 'Sanitizer|runtime error' "$1"
}

subset="ps_upload ftp_stor_active ftp_small_stor sftp_hourly tls_mega rclone_multistream
bulk_http_50m dns_iodine icmp_ptunnel smtp_stealer jitter_tls_24h keepalive_http_6h rotate_ip24 smtp_relay
allowlisted_sync"
# name, pcaps, args of the check-gated scenarios that are one run (';' marks a restart).
grep -v '^#' tests/scenarios/manifest.tsv | tail -n +2 |
    awk -F '\t' '$3 == "check" && $4 !~ /;/ { print $1 "\t" $4 "\t" $5 }' >"$tmp/manifest"

# 1. Captures -> events -> alerts again, per scenario.
while IFS="$(printf '\t')" read -r name pcaps args; do
    # shellcheck disable=SC2086
    if [ -z "${RESCORE_ALL:-}" ] && ! printf '%s\n' $subset | grep -qx "$name"; then continue; fi
    files=$(printf '%s' "$pcaps" | sed 's/,/ -r /g')
    # shellcheck disable=SC2086
    "$EXFLOW" -r $files $args $run_id -w "$tmp/$name.pcap.jsonl" 2>"$tmp/$name.err"
    rc=$?
    # shellcheck disable=SC2086
    "$EXFLOW" -r "$tmp/$name.pcap.jsonl" $args $run_id -w "$tmp/$name.events.jsonl" 2>>"$tmp/$name.err"
    rc2=$?
    if crashed "$tmp/$name.err" "$rc" || crashed "$tmp/$name.err" "$rc2" || [ "$rc2" -ne 0 ]; then
        fail "$name: exit $rc/$rc2"; head -n 5 "$tmp/$name.err"; continue
    fi
    # The flow events come out again with their evidence: a re-scored file re-scores.
    same "$name" "$tmp/$name.pcap.jsonl" "$tmp/$name.events.jsonl"
    [ -n "${EXFLOW_EVENTS_DIR:-}" ] && cp "$tmp/$name.pcap.jsonl" "$EXFLOW_EVENTS_DIR/rescore-$name.jsonl"
done <"$tmp/manifest"

# 1b. Restarts (runs separated by ';' that share a state file): each run's events are
# re-scored in turn, sharing a state file of their own, and each run agrees.
grep -v '^#' tests/scenarios/manifest.tsv | tail -n +2 |
    awk -F '\t' '$3 == "check" && $4 ~ /;/ { print $1 "\t" $4 "\t" $5 }' >"$tmp/restarts"
while IFS="$(printf '\t')" read -r name pcaps args; do
    rm -f "$tmp"/state-*
    i=1
    while [ -n "$(printf '%s' "$pcaps" | cut -d ';' -f "$i")" ]; do
        files=$(printf '%s' "$pcaps" | cut -d ';' -f "$i" | sed 's/,/ -r /g')
        run_args=$(printf '%s' "$args" | cut -d ';' -f "$i")
        # shellcheck disable=SC2086
        "$EXFLOW" -r $files $run_args --state-file "$tmp/state-pcap" $run_id \
            -w "$tmp/run$i.pcap.jsonl" 2>/dev/null
        # shellcheck disable=SC2086
        "$EXFLOW" -r "$tmp/run$i.pcap.jsonl" $run_args --state-file "$tmp/state-events" $run_id \
            -w "$tmp/run$i.events.jsonl" 2>/dev/null
        same "$name (run $i of a restart)" "$tmp/run$i.pcap.jsonl" "$tmp/run$i.events.jsonl"
        i=$((i + 1))
    done
done <"$tmp/restarts"

# 2. A new allowlist and a new threshold over saved events do what they do over captures.
# sync_without_allowlist's events, re-scored with the allowlist the benign scenario uses.
sync="-r pcaps/scenarios/baseline.pcap -r pcaps/scenarios/allowlisted_sync.pcap --learn 3d"
# shellcheck disable=SC2086
"$EXFLOW" $sync -w "$tmp/sync.jsonl" 2>/dev/null
"$EXFLOW" -r "$tmp/sync.jsonl" --learn 3d --allowlist tests/scenarios/allowlist.txt \
    -w "$tmp/sync-allow.jsonl" 2>"$tmp/sync-allow.err"
if [ "$(grep -c '"event_type":"alert"' "$tmp/sync.jsonl")" -ge 1 ] &&
   [ "$(grep -c '"event_type":"alert"' "$tmp/sync-allow.jsonl")" -eq 0 ] &&
   grep -q -E 'allowlisted=[1-9]' "$tmp/sync-allow.err"; then
    ok "saved events re-scored with a new allowlist: the alert is allowlisted"
else
    fail "re-scoring with a new allowlist"; cat "$tmp/sync-allow.err"
fi
# Thresholds: one that drops ps_upload's alert (score 0.916), and looser ones that raise one
# more without learning.
for thresholds in "--learn 3d --alert-threshold 0.92" \
                  "--alert-threshold 0.3 --min-upload 2000 --pcr-threshold 0.2"; do
    rm -f "$tmp/t.pcap.jsonl" "$tmp/t.events.jsonl"
    # shellcheck disable=SC2086
    "$EXFLOW" -r pcaps/scenarios/baseline.pcap -r pcaps/scenarios/ps_upload.pcap $thresholds \
        $run_id -w "$tmp/t.pcap.jsonl" 2>/dev/null
    # shellcheck disable=SC2086
    "$EXFLOW" -r "$tmp/ps_upload.pcap.jsonl" $thresholds $run_id -w "$tmp/t.events.jsonl" 2>/dev/null
    same "saved events re-scored with $thresholds" "$tmp/t.pcap.jsonl" "$tmp/t.events.jsonl"
done
# The report and summary of a re-scoring run (flow input, --report works the same).
"$EXFLOW" -r "$tmp/ps_upload.pcap.jsonl" --learn 3d --report "$tmp/r.html" >/dev/null 2>&1 &&
    grep -q 'class="card' "$tmp/r.html" && ok "--report from saved events" ||
    fail "--report from saved events"

# 3. Bad lines: counted and skipped with one warning naming the file and line; the good
# lines around them still count; never a crash.
grep -m 1 '"payload_evidence":{"kind":"http"' "$tmp/ps_upload.pcap.jsonl" >"$tmp/good.jsonl"
python3 - "$tmp/good.jsonl" "$tmp/bad.jsonl" <<'PY'
import json, sys
line = open(sys.argv[1]).read().strip()
def edit(change):
    e = json.loads(line); change(e); return json.dumps(e, separators=(",", ":"))
out = [line,
    line[:200],                                                      # truncated
    edit(lambda e: e.update(flow_id="x")),                           # wrong type
    edit(lambda e: e.update(src_port=70000)),                        # out of range
    edit(lambda e: e.update(start="yesterday")),                     # not a time
    edit(lambda e: e.update(dest_ip="::1")),                         # another family
    edit(lambda e: e["payload_evidence"].update(kind="gopher")),     # unknown kind
    edit(lambda e: e["payload_evidence"].update(upload_requests=-1)),  # negative
    edit(lambda e: e["payload_evidence"].update(host='<script>\x1b[2J"x\u2028' + "A" * 300)),  # kept
    edit(lambda e: e.update(end_reason="burst")),                    # burst record without burst
    edit(lambda e: e.update(burst={"seq": 1, "start": e["start"]})),  # burst without its bytes
    '{"event_type":"flow","payload_evidence":{"kind":"dns","domains":[{"domain":"a","unique":"zz"}]}}',
    "[]", "null"]
with open(sys.argv[2], "wb") as f:
    f.write("\n".join(out).encode() + b"\n\xff\xfe{\n" + b'{"event_type":"stats"}\n' +
            line[:100].encode())                                     # cut, no newline
PY
"$EXFLOW" -r "$tmp/bad.jsonl" -w "$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
if crashed "$tmp/bad.err" "$rc"; then
    fail "bad lines: exit $rc"; head -n 5 "$tmp/bad.err"
elif [ "$rc" -eq 0 ] && grep -q 'bad_lines=14 other_events=1 records=2 ' "$tmp/bad.err" &&
     grep -q "bad.jsonl:2: .*line skipped" "$tmp/bad.err" &&
     [ "$(grep -c '"event_type":"flow"' "$tmp/bad.out")" -eq 2 ]; then
    ok "bad lines counted and skipped, good lines kept"
else
    fail "bad lines (exit $rc)"; cat "$tmp/bad.err"
fi
# Alerts only (--no-flows): nothing to score, and the warning says why.
"$EXFLOW" -r pcaps/golden/ftp.pcap --no-flows -w "$tmp/noflows.jsonl" 2>/dev/null
"$EXFLOW" -r "$tmp/noflows.jsonl" >/dev/null 2>"$tmp/noflows.err"
rc=$?
[ "$rc" -eq 0 ] && grep -q 'no flow events.*--no-flows' "$tmp/noflows.err" &&
    ok "saved events without flow records: a warning" ||
    { fail "saved events without flow records: exit $rc"; cat "$tmp/noflows.err"; }
# (-w appends, as a sensor appends to its log: every run here writes a file of its own.)
# Captures and saved events are not mixed in one run; a missing file is an error.
"$EXFLOW" -r "$tmp/bad.jsonl" -r pcaps/golden/ftp.pcap >/dev/null 2>"$tmp/mix.err"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -q 'not both' "$tmp/mix.err" &&
    ok "captures and saved events not mixed" || { fail "mixed -r: exit $rc"; cat "$tmp/mix.err"; }

echo "rescore: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
