#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The event schema: every JSON event the suite produced (folders given as arguments: the
# golden outputs, the events tests/events and the scenarios kept) validates against
# docs/schema/exflow-events.schema.json; the examples in docs/events.md do too; broken events
# are rejected; and the collector recipes in docs/siem/ agree with the schema and real output.
# Needs Debian's python3-jsonschema. Run once, in the default build (tests/run-all.sh).
set -u
export LC_ALL=C.UTF-8
schema=docs/schema/exflow-events.schema.json
py=/usr/bin/python3; [ -x "$py" ] || py=python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# The examples of docs/events.md: each line of a ```json block is one event.
awk '/^```json/ { on = 1; next } /^```/ { on = 0 } on' docs/events.md >"$tmp/examples.jsonl"
for kind in flow alert stats; do
    grep -q "\"event_type\":\"$kind\"" "$tmp/examples.jsonl" || fail "docs/events.md has no $kind example"
done

if "$py" tests/schema/validate.py "$schema" "$@" "$tmp/examples.jsonl" >"$tmp/validate.log" 2>&1; then
    ok "$(grep '^validated:' "$tmp/validate.log") events valid"
else
    fail "events do not match the schema:"; grep -v '^schema:' "$tmp/validate.log" | head -n 25
fi

# The schema rejects what it should: each broken copy of a documented example must fail.
cat >"$tmp/broken.py" <<'PY'
import copy, json, sys
examples = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
flow = next(e for e in examples if e["event_type"] == "flow")
alert = next(e for e in examples if e["event_type"] == "alert")
stats = next(e for e in examples if e["event_type"] == "stats")
def broken(event, change):
    e = copy.deepcopy(event); change(e); return e
cases = [
    broken(flow, lambda e: e.pop("event_id")),
    broken(flow, lambda e: e.pop("sensor")),
    broken(flow, lambda e: e.update(schema_version="2.0")),
    broken(flow, lambda e: e.update(community_id="1:short")),
    broken(flow, lambda e: e.update(event_id="42")),
    broken(flow, lambda e: e.update(src_port=70000)),
    broken(flow, lambda e: e.update(src_ip="10.0.0.300")),
    broken(flow, lambda e: e.update(undocumented_field=1)),
    broken(flow, lambda e: e.update(end_reason="bored")),
    broken(flow, lambda e: e.update(end_reason="burst")),
    broken(flow, lambda e: e.update(burst={"seq": 1, "start": e["start"]})),
    broken(alert, lambda e: e.update(severity="urgent")),
    broken(alert, lambda e: e.update(techniques=["exfil"])),
    broken(alert, lambda e: e.update(score=1.5)),
    broken(alert, lambda e: e.pop("reason")),
    broken(stats, lambda e: e["capture"].pop("packets")),
    broken(stats, lambda e: e.update(event_type="statistics")),
]
with open(sys.argv[2], "w") as out:
    for c in cases:
        out.write(json.dumps(c) + "\n")
print(len(cases))
PY
n=$("$py" "$tmp/broken.py" "$tmp/examples.jsonl" "$tmp/broken.jsonl")
"$py" tests/schema/validate.py "$schema" "$tmp/broken.jsonl" >"$tmp/broken.log" 2>&1
rejected=$(sed -n 's/^schema: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$tmp/broken.log")
# validate.py also counts "no flow/alert/stats event validated" as failures: 3 of them here.
if [ "${rejected:-0}" -eq $((n + 3)) ]; then ok "schema rejects $n broken events"; else
    fail "schema rejects $((${rejected:-0} - 3)) of $n broken events"; cat "$tmp/broken.log"; fi

# Collector recipes.
events_dir=""
for d in "$@"; do [ -d "$d/events" ] && events_dir=$d; done
"$py" tests/schema/check_recipes.py "$schema" docs/siem $events_dir >"$tmp/recipes.log" 2>&1
cat "$tmp/recipes.log"
passed=$((passed + $(grep -c '^ok ' "$tmp/recipes.log")))
failed=$((failed + $(grep -c '^FAIL' "$tmp/recipes.log")))
grep -q Traceback "$tmp/recipes.log" && failed=$((failed + 1))

echo "schema: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
