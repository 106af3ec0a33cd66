#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The event contract a SIEM relies on: event ids unique across runs (and reproducible under
# --run-id), the sensor name, the Community ID of each flow recomputed independently, the
# stats event and the --metrics-file read by the Prometheus client library's own parser, and
# CEF alerts received over UDP with their class and UTF-8 intact.
# With EXFLOW_EVENTS_DIR set (tests/run-all.sh), the events are kept there for the schema check.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
keep=${EXFLOW_EVENTS_DIR:-$tmp/keep}/events
mkdir -p "$keep"
# Debian's interpreter, with the Debian modules (python3-prometheus-client), even where
# another python3 comes first in PATH.
py=/usr/bin/python3; [ -x "$py" ] || py=python3
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { # check NAME PYTHON-SCRIPT ARGS...: the script prints what is wrong, or nothing
    name=$1; shift
    if out=$("$py" "$@" 2>&1) && [ -z "$out" ]; then ok "$name"; else fail "$name: $out"; fi
}

pcap=pcaps/demo/exfil.pcap
run_id=11111111-2222-4333-8444-555555555555

# Two runs of the same capture: same records, distinct event ids. Without -q each run ends
# with a stats event; the metrics file is written at the end of a replay.
"$EXFLOW" -r $pcap --metrics-file "$tmp/a.prom" >"$keep/run-a.jsonl" 2>"$tmp/a.err" \
    && "$EXFLOW" -r $pcap >"$keep/run-b.jsonl" 2>"$tmp/b.err" \
    && "$EXFLOW" -q -r $pcap --run-id $run_id --sensor-name "edge-1" >"$keep/run-c.jsonl" 2>&1 \
    && "$EXFLOW" -q -r $pcap --run-id $run_id --sensor-name "edge-1" >"$keep/run-d.jsonl" 2>&1 \
    || fail "runs exited non-zero: $(cat "$tmp/a.err" "$tmp/b.err" | tail -n 3)"

cat >"$tmp/ids.py" <<'PY'
import json, sys
def load(path):
    return [json.loads(line) for line in open(path)]
a, b, c, d = (load(p) for p in sys.argv[1:5])
host = sys.argv[5]
def ids(events):
    return [e["event_id"] for e in events]
for name, events in (("a", a), ("b", b), ("c", c)):
    if len(set(ids(events))) != len(events):
        print("run %s repeats an event id" % name)
if set(ids(a)) & set(ids(b)):
    print("two runs share event ids: %s" % sorted(set(ids(a)) & set(ids(b)))[:3])
if ids(c) != ids(d):
    print("the same --run-id gave other ids")
if set(ids(a)) & set(ids(c)):
    print("a random run id and --run-id share ids")
# Apart from the ids (and the run-level stats), the records are the same.
def strip(events):
    return [{k: v for k, v in e.items() if k not in ("event_id", "sensor")}
            for e in events if e["event_type"] != "stats"]
if strip(a) != strip(b) or strip(a) != strip(c):
    print("records differ between runs beyond their ids")
if not any(e["event_type"] == "alert" for e in a) or not any(e["event_type"] == "flow" for e in a):
    print("the demo capture gave no alerts or no flows")
if {e["sensor"] for e in a} != {host}:
    print("default sensor %s is not the host name %s" % ({e["sensor"] for e in a}, host))
if {e["sensor"] for e in c} != {"edge-1"}:
    print("--sensor-name not used")
stats = [e for e in a if e["event_type"] == "stats"]
if len(stats) != 1 or a[-1]["event_type"] != "stats":
    print("wanted one stats event, last; got %d" % len(stats))
elif any(e["event_type"] == "stats" for e in c):
    print("-q run wrote a stats event")
else:
    s = stats[0]
    flows = sum(1 for e in a if e["event_type"] == "flow")
    alerts = sum(1 for e in a if e["event_type"] == "alert")
    if s["output"]["flows_written"] != flows or s["output"]["alerts_written"] != alerts:
        print("stats event counts %s, the output holds %d flows %d alerts" % (s["output"], flows, alerts))
    if s["capture"]["packets"] <= 0 or s["detect"]["alerts"] != alerts:
        print("stats event capture/detect numbers wrong: %s %s" % (s["capture"], s["detect"]))
PY
check two-runs-distinct-event-ids "$tmp/ids.py" "$keep/run-a.jsonl" "$keep/run-b.jsonl" \
    "$keep/run-c.jsonl" "$keep/run-d.jsonl" "$(hostname)"

# The Community ID of every flow and alert, recomputed here from the spec (SHA-1 over the
# ordered endpoints, seed 0), and the same for an alert and the flow that raised it.
cat >"$tmp/cid.py" <<'PY'
import base64, hashlib, ipaddress, json, struct, sys
PROTO = {"TCP": 6, "UDP": 17}
def community_id(src, sport, dst, dport, proto):
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if (s, sport) > (d, dport):
        s, d, sport, dport = d, s, dport, sport
    data = struct.pack("!H", 0) + s + d + bytes([proto, 0]) + struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
checked = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event_type"] not in ("flow", "alert") or e["proto"] not in PROTO:
        continue
    want = community_id(e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"], PROTO[e["proto"]])
    if e.get("community_id") != want:
        print("%s %s: community_id %s, want %s" % (e["event_type"], e["event_id"], e.get("community_id"), want))
    checked += 1
if checked < 10:
    print("only %d events checked" % checked)
PY
check community-id-recomputed "$tmp/cid.py" "$keep/run-a.jsonl"

# The metrics file, read by prometheus_client's own text parser, agrees with the stats event.
cat >"$tmp/prom.py" <<'PY'
import json, os, stat, sys
from prometheus_client.parser import text_string_to_metric_families
path, events = sys.argv[1], sys.argv[2]
text = open(path).read()
samples = {}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples[(s.name, s.labels.get("stage"))] = (s.value, s.labels)
stats = [json.loads(l) for l in open(events) if '"event_type":"stats"' in l][-1]
want = {"exflow_packets_total": stats["capture"]["packets"],
        "exflow_flows_created_total": stats["flows"]["created"],
        "exflow_alerts_total": stats["detect"]["alerts"],
        "exflow_alerts_written_total": stats["output"]["alerts_written"],
        "exflow_syslog_queue_alerts": 0, "exflow_pcap_dropped_total": 0}
for name, value in want.items():
    got = samples.get((name, None))
    if got is None or got[0] != value:
        print("%s = %s, want %s" % (name, got and got[0], value))
if ("exflow_cpu_seconds_total", "workers") not in samples:
    print("no per-stage CPU")
if samples.get(("exflow_packets_total", None), (0, {}))[1].get("sensor") != stats["sensor"]:
    print("sensor label differs from the stats event")
if stat.S_IMODE(os.stat(path).st_mode) != 0o644:
    print("mode %o" % stat.S_IMODE(os.stat(path).st_mode))
left = [f for f in os.listdir(os.path.dirname(path)) if ".prom.tmp" in f]
if left:
    print("temporary files left: %s" % left)
PY
if [ -f "$tmp/a.prom" ]; then
    check metrics-file "$tmp/prom.py" "$tmp/a.prom" "$keep/run-a.jsonl"
else
    fail "metrics-file: not written"
fi

# Bad values name their option and exit 2 before reading anything.
for bad in "--run-id 1234" "--sensor-name ="; do
    case "$bad" in *=) set -- --sensor-name "" ;; *) set -- $bad ;; esac
    "$EXFLOW" -q -r pcaps/golden/ftp.pcap "$@" >/dev/null 2>"$tmp/bad.err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q -- "$1" "$tmp/bad.err"; then ok "bad $1"; else
        fail "bad $1: exit $rc: $(head -n 2 "$tmp/bad.err")"; fi
done
"$EXFLOW" -r pcaps/golden/ftp.pcap --metrics-file "$tmp/no/such/dir/x.prom" >/dev/null 2>"$tmp/m.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q -- "--metrics-file" "$tmp/m.err"; then ok "metrics-file-unwritable-warns"; else
    fail "metrics-file-unwritable-warns: exit $rc: $(head -n 2 "$tmp/m.err")"; fi

# CEF over UDP to a listener: each alert's Signature ID is its main technique, and the
# reason's "±" arrives as UTF-8 (with the RFC 5424 BOM), not as '?'.
cat >"$tmp/cef.py" <<'PY'
import json, re, socket, subprocess, sys
exflow, pcap, events = sys.argv[1:4]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
sock.settimeout(5)
port = sock.getsockname()[1]
out = subprocess.run([exflow, "-q", "--no-flows", "-r", pcap, "--run-id", "11111111-2222-4333-8444-555555555555",
                      "--syslog", "udp://127.0.0.1:%d" % port, "--syslog-format", "cef"],
                     capture_output=True, timeout=120)
if out.returncode != 0:
    sys.exit("exit %d: %s" % (out.returncode, out.stderr[-300:]))
alerts = [json.loads(l) for l in out.stdout.decode().splitlines() if '"alert"' in l]
messages = []
try:
    while len(messages) < len(alerts):
        messages.append(sock.recv(65536))
except socket.timeout:
    pass
if not alerts or len(messages) != len(alerts):
    sys.exit("%d alerts, %d CEF datagrams" % (len(alerts), len(messages)))
# Kept for tests/schema/run.sh, which runs the Splunk recipe's extractions over them.
with open(events.replace(".jsonl", ".cef.txt"), "wb") as kept:
    kept.write(b"\n".join(messages) + b"\n")
with open(events.replace(".jsonl", ".cef-alerts.json"), "w") as kept:
    json.dump(alerts, kept)
prefer = ["T1567.002", "T1048.002", "T1048.003", "T1048", "T1041", "T1029", "T1020"]
for alert, raw in zip(alerts, messages):
    text = raw.decode("utf-8")  # strict: invalid UTF-8 fails here
    body = text.split("] \ufeff", 1)[1] if "] \ufeff" in text else None
    if body is None:
        print("no BOM before the UTF-8 CEF body: %.80r" % text); continue
    fields = body.split("|", 7)
    main = next(t for t in prefer if t in alert["techniques"])
    if fields[4] != main:
        print("alert %d: CEF class %s, main technique %s" % (alert["alert_id"], fields[4], main))
    if "externalId=%d " % alert["alert_id"] not in body or "cs4=%s " % alert["event_id"] not in body or "cs3=%s " % alert["community_id"].replace("=", "\\=") not in body:
        print("alert %d: event or community id missing from CEF" % alert["alert_id"])
    msg = body.split(" msg=", 1)[1]
    if msg.replace("\\=", "=").replace("\\\\", "\\") != alert["reason"]:
        print("alert %d: msg %r != reason %r" % (alert["alert_id"], msg, alert["reason"]))
# The same alerts with a JSON body, for the Splunk recipe's exflow:syslog source type.
out = subprocess.run([exflow, "-q", "--no-flows", "-r", pcap, "--run-id", "11111111-2222-4333-8444-555555555555",
                      "--syslog", "udp://127.0.0.1:%d" % port], capture_output=True, timeout=120)
json_messages = []
try:
    while len(json_messages) < len(alerts):
        json_messages.append(sock.recv(65536))
except socket.timeout:
    pass
if out.returncode != 0 or len(json_messages) != len(alerts):
    print("JSON syslog run: exit %d, %d datagrams" % (out.returncode, len(json_messages)))
with open(events.replace(".jsonl", ".syslog-json.txt"), "wb") as kept:
    kept.write(b"\n".join(json_messages) + b"\n")
if not any("\u00b1" in a["reason"] for a in alerts):
    print("no alert reason with \u00b1 to check")
if len({next(t for t in prefer if t in a["techniques"]) for a in alerts}) < 2:
    print("all alerts have one class: the check proves little")
PY
check cef-class-and-utf8-over-udp "$tmp/cef.py" "$EXFLOW" $pcap "$keep/syslog.jsonl"

# Live (root only, loopback): a stats event and a fresh metrics file every --stats-interval.
if [ "$(id -u)" -eq 0 ] && ip link show lo >/dev/null 2>&1; then
    timeout -s INT 5 "$EXFLOW" -i lo --stats-interval 1 --metrics-file "$tmp/live.prom" \
        >"$keep/live.jsonl" 2>"$tmp/live.err"
    n=$(grep -c '"event_type":"stats"' "$keep/live.jsonl")
    if [ "$n" -ge 2 ] && [ -s "$tmp/live.prom" ] && grep -q 'stats(periodic)' "$tmp/live.err" \
        && ! grep -q -E 'Sanitizer|runtime error' "$tmp/live.err"; then
        ok "live-periodic-stats ($n stats events)"
    else
        fail "live-periodic-stats: $n stats events; $(tail -n 3 "$tmp/live.err")"
    fi
else
    echo "skip live-periodic-stats (needs root and lo)"
fi

echo "events: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
