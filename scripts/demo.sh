#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The README's first command ends here: exflow on the bundled sample capture with MaxMind's
# public test GeoIP databases, printing each alert as a sentence and as the JSON a SIEM gets.
set -eu
cd "$(dirname "$0")/.."
pcaps="pcaps/scenarios/baseline.pcap pcaps/demo/exfil.pcap"
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "exflow: reading $pcaps" >&2
# The baseline holds three days before the incident: learn from it, alert after it.
./exflow -r $pcaps --no-flows --learn 3d \
    --geoip-city geo/testdata/GeoIP2-City-Test.mmdb \
    --geoip-asn geo/testdata/GeoLite2-ASN-Test.mmdb \
    --allowlist detect/allowlist.example >"$out"
count=$(grep -c '"event_type":"alert"' "$out" || true)
echo
echo "== $count alert(s) =="
python3 - "$out" <<'PY' 2>/dev/null || cat "$out"
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("event_type") != "alert":
        continue
    geo = a.get("geo", {})
    where = " ".join(str(x) for x in (geo.get("country_code"), geo.get("city"),
                                      geo.get("as_org")) if x)
    print(f"[{a['severity'].upper()}] {a['timestamp']} {a['src_ip']} -> {a['dest_name']} "
          f"({a['dest_ip']}:{a['dest_port']}{', ' + where if where else ''}) "
          f"{','.join(a['techniques'])} score={a['score']}")
    print(f"    {a['reason']}")
PY
echo
echo "== the same alerts as JSON lines =="
grep '"event_type":"alert"' "$out" || true
