#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The investigation output: the HTML report (--report) of a hostile capture, the demo and the
# scenario corpus, checked as a DOM for one card per alert, one timeline per card, no script
# and network text shown as text; `exflow report` re-rendering saved events; --summary.
# The default variant also opens the reports in headless Chromium (DOM dump + screenshot);
# REPORT_SKIP_BROWSER=1 leaves that part out for a quick run by hand.
set -u
: "${EXFLOW:=./exflow}" "${BUILD:=build/default}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
art="tests/out/$(basename "$BUILD")"; mkdir -p "$art"
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
alerts() { grep -c '"event_type":"alert"' "$1"; }
clean_run() {   # NAME STDERR-FILE EXIT-STATUS: no crash, no sanitizer report
    if [ "$3" -ge 128 ] || [ "$3" -eq 99 ] || grep -q -E 'Sanitizer|runtime error' "$2"; then
        fail "$1: exit $3"; head -n 20 "$2"; return 1
    fi
}
dom_check() {   # NAME HTML ALERTS [TEXT...]
    name=$1; shift
    if python3 tests/report/check_dom.py "$@" >"$tmp/dom.out"; then ok "$name"; else
        fail "$name"; cat "$tmp/dom.out"; fi
}

SNI='x<script>alert("sni")</script>'"'"'.example'
URL='/u?a=<script>alert("url")</script>&b='"'"'q'"'"
HOST='up.example"'"'"'<script>alert(1)</script>'
GEO="--geoip-city geo/testdata/GeoIP2-City-Test.mmdb --geoip-asn geo/testdata/GeoLite2-ASN-Test.mmdb"

# 1. Hostile names: every one must come out as text, and no <script> element may appear.
python3 tests/report/hostile.py "$tmp/hostile.pcap"
"$EXFLOW" -r "$tmp/hostile.pcap" --report "$tmp/hostile.html" -w "$tmp/hostile.jsonl" \
    2>"$tmp/hostile.err"
rc=$?
if clean_run hostile-run "$tmp/hostile.err" "$rc"; then
    n=$(alerts "$tmp/hostile.jsonl")
    [ "$n" -ge 2 ] && ok "hostile capture raises alerts ($n)" || fail "hostile capture: $n alerts"
    dom_check hostile-html "$tmp/hostile.html" "$n" "$SNI" "$URL" "$HOST"
fi

# 2. The demo (baseline + incident, alerts only on the JSON side: the report still gets flows).
# shellcheck disable=SC2086
"$EXFLOW" -r pcaps/scenarios/baseline.pcap pcaps/demo/exfil.pcap --no-flows --learn 3d $GEO \
    --allowlist detect/allowlist.example --report "$tmp/demo.html" --summary \
    >"$tmp/demo.jsonl" 2>"$tmp/demo.err"
rc=$?
if clean_run demo-run "$tmp/demo.err" "$rc"; then
    n=$(alerts "$tmp/demo.jsonl")
    [ "$n" -ge 1 ] && ok "demo alerts ($n)" || fail "demo: no alerts"
    dom_check demo-html "$tmp/demo.html" "$n" "mega.nz" "files.quickshare-drop.net"
    grep -q '"event_type":"flow"' "$tmp/demo.jsonl" && fail "--no-flows still holds" || \
        ok "--no-flows output keeps out flow records"
    if grep -q '^Alerts by severity' "$tmp/demo.err" && grep -q -E '^  high +[1-9]' "$tmp/demo.err" \
        && grep -q '^  10\.20\.1\.3[278] ' "$tmp/demo.err"; then ok "--summary tables"
    else fail "--summary tables"; cat "$tmp/demo.err"; fi
fi

# 3. The scenario corpus, one run per scenario (as the manifest says: name, kind, gate,
# pcaps, args), the events saved and re-rendered by `exflow report`; then the same events
# must give the same cards as live. A subset that raises every kind of evidence (the whole
# corpus makes a page of 1700 cards and takes minutes): http_upload, packed_data, periodic
# (ps_upload), ftp_stor (ftp_stor_active), small_upload (ftp_small_stor), ssh_upload
# (sftp_hourly), cloud_storage (tls_mega), parallel_streams (rclone_multistream),
# bulk_upload (bulk_http_50m), dns_tunnel (dns_iodine), icmp_tunnel (icmp_ptunnel),
# smtp_exfil (smtp_stealer), persistent (jitter_tls_24h), a destination group (rotate_domain).
subset="ps_upload ftp_stor_active ftp_small_stor sftp_hourly tls_mega rclone_multistream
bulk_http_50m dns_iodine icmp_ptunnel smtp_stealer jitter_tls_24h rotate_domain"
cp "$tmp/hostile.jsonl" "$tmp/corpus.jsonl"   # the hostile names in the corpus page too
grep -v '^#' tests/scenarios/manifest.tsv | tail -n +2 | cut -f 1,4,5 >"$tmp/manifest"
corpus_ok=1
while IFS="$(printf '\t')" read -r name pcaps args; do
    printf '%s\n' $subset | grep -qx "$name" || continue
    files=$(printf '%s' "$pcaps" | sed 's/,/ -r /g')
    # shellcheck disable=SC2086
    "$EXFLOW" -r $files $args -w "$tmp/one.jsonl" 2>"$tmp/one.err"
    rc=$?
    clean_run "corpus $name" "$tmp/one.err" "$rc" || corpus_ok=0
    cat "$tmp/one.jsonl" >>"$tmp/corpus.jsonl"
done <"$tmp/manifest"
[ "$corpus_ok" = 1 ] && ok "scenario corpus runs"
"$EXFLOW" report "$tmp/corpus.jsonl" --report "$tmp/corpus.html" >"$tmp/corpus.txt" 2>"$tmp/corpus.err"
rc=$?
if clean_run report-command "$tmp/corpus.err" "$rc" && [ "$rc" -eq 0 ]; then
    n=$(alerts "$tmp/corpus.jsonl")
    dom_check corpus-html "$tmp/corpus.html" "$n"
    grep -q "exflow summary: $n alerts" "$tmp/corpus.txt" && ok "report command summary" || \
        { fail "report command summary"; head -n 3 "$tmp/corpus.txt"; }
else
    fail "report command: exit $rc"
fi

# Live and re-rendered reports of one run agree, apart from the run's own counters.
# shellcheck disable=SC2086
"$EXFLOW" -r pcaps/scenarios/baseline.pcap pcaps/demo/exfil.pcap --learn 3d $GEO \
    --report "$tmp/live.html" -w "$tmp/live.jsonl" 2>/dev/null
"$EXFLOW" report "$tmp/live.jsonl" --report "$tmp/again.html" >/dev/null 2>&1
strip() { sed '/<table class="skipped">/,/<\/table>/d' "$1"; }
strip "$tmp/live.html" >"$tmp/live.s"; strip "$tmp/again.html" >"$tmp/again.s"
if [ -s "$tmp/live.s" ] && cmp -s "$tmp/live.s" "$tmp/again.s"; then
    ok "saved events re-render the live report"
else
    fail "saved events re-render the live report"; diff "$tmp/live.s" "$tmp/again.s" | head
fi

# The summary as a JSON event ends the JSON output, and the report reader skips it.
# shellcheck disable=SC2086
"$EXFLOW" -r pcaps/scenarios/baseline.pcap pcaps/demo/exfil.pcap --no-flows --learn 3d \
    --summary-event >"$tmp/sum.jsonl" 2>/dev/null
if tail -n 1 "$tmp/sum.jsonl" | python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
# Three alerts, one per series: the HTTP series adding up its same packed uploads is the
# same job repeating, not news, so it does not re-alert as critical.
assert e["event_type"] == "summary" and e["alerts"] == 3, e
assert e["alerts_by_severity"] == {"low": 1, "medium": 0, "high": 2, "critical": 0}, e
hosts = [h["src_ip"] for h in e["top_hosts"]]
assert {"10.20.1.37", "10.20.1.38", "10.20.1.32"} <= set(hosts[:3]), hosts
assert "periodic" in e["top_hosts"][0]["evidence"], e["top_hosts"][0]
assert sorted(d["dest_name"] for d in e["new_destinations"]) == \
    ["89.160.20.112", "files.quickshare-drop.net", "mega.nz"], e["new_destinations"]
' && "$EXFLOW" report "$tmp/sum.jsonl" 2>&1 | grep -q '^exflow summary: 3 alerts'; then
    ok "--summary-event"
else
    fail "--summary-event"; tail -n 1 "$tmp/sum.jsonl" | head -c 600
fi

# 4. Bad input to `exflow report`: junk lines are counted and skipped; a missing file is usage.
{ echo 'not json'; echo '{"event_type":"alert","severity":"high","reason":"<b>x</b>"}'; \
  printf '\377\376{}\n'; echo '[1,2]'; } >"$tmp/junk.jsonl"
"$EXFLOW" report "$tmp/junk.jsonl" --report "$tmp/junk.html" >/dev/null 2>"$tmp/junk.err"
rc=$?
if clean_run junk "$tmp/junk.err" "$rc" && [ "$rc" -eq 0 ] && grep -q '3 lines were not JSON' "$tmp/junk.err"; then
    dom_check junk-html "$tmp/junk.html" 1 "<b>x</b>"
else
    fail "junk lines: exit $rc"; cat "$tmp/junk.err"
fi
"$EXFLOW" report "$tmp/no-such.jsonl" >/dev/null 2>"$tmp/missing.err"
rc=$?
[ "$rc" -eq 2 ] && grep -q 'no-such.jsonl' "$tmp/missing.err" && ok "report: missing file" || \
    fail "report: missing file exit $rc"

# A report that cannot be written (a directory, a symlink) fails the run with status 1 and
# names the file; the JSON is still written.
mkdir "$tmp/adir"; ln -s "$tmp/elsewhere.html" "$tmp/link.html"
for target in adir link.html; do
    "$EXFLOW" -r pcaps/golden/ftp.pcap --report "$tmp/$target" >"$tmp/t.jsonl" 2>"$tmp/t.err"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q -e "--report: .*$target" "$tmp/t.err" && [ -s "$tmp/t.jsonl" ] &&
       [ ! -e "$tmp/elsewhere.html" ]; then ok "unwritable --report $target"
    else fail "unwritable --report $target: exit $rc"; cat "$tmp/t.err"; fi
done

# 5. Progress on a terminal: a multi-file replay under a pseudo-terminal shows a line that is
# redrawn in place (carriage return, erase line) and ends with a final "done" line, plus the
# summary; the JSON on stdout is the same as without a terminal, whose stderr has neither.
# One run id for both runs, so their event ids match; the stats events (CPU seconds) are
# left out of the comparison.
three="-r pcaps/scenarios/baseline.pcap -r pcaps/demo/exfil.pcap -r pcaps/golden/ftp.pcap --run-id 3d6f0a2b-8c1e-4f5a-9b7d-2e4c6a8f0b1d"
# shellcheck disable=SC2086
python3 tests/report/pty_run.py "$tmp/tty.err" "$tmp/tty.out" "$EXFLOW" $three --no-flows
rc=$?
if clean_run pty-run "$tmp/tty.err" "$rc"; then
    redraws=$(tr '\r' '\n' <"$tmp/tty.err" | grep -c -a 'exflow: file [0-9]/3')
    if [ "$redraws" -ge 3 ] && grep -q -a 'file 3/3, .* (100%), .*done in' "$tmp/tty.err" &&
       [ "$(grep -c -a "$(printf '\r')" "$tmp/tty.err")" -ge 1 ]; then
        ok "progress line redrawn on a terminal ($redraws updates)"
    else
        fail "progress on a terminal"; tr '\r' '\n' <"$tmp/tty.err" | head -n 8
    fi
    grep -q -a '^Alerts by severity' "$tmp/tty.err" && ok "summary on a terminal" || \
        fail "summary on a terminal"
fi
# shellcheck disable=SC2086
"$EXFLOW" $three --no-flows >"$tmp/notty.out" 2>"$tmp/notty.err"
grep -v '"event_type":"stats"' "$tmp/tty.out" >"$tmp/tty.cmp"
grep -v '"event_type":"stats"' "$tmp/notty.out" >"$tmp/notty.cmp"
if [ -s "$tmp/tty.cmp" ] && cmp -s "$tmp/tty.cmp" "$tmp/notty.cmp" && ! grep -q -E 'exflow: file|Alerts by severity' "$tmp/notty.err"; then
    ok "no terminal: no progress, no summary, same JSON"
else
    fail "no terminal: output differs"; head -n 3 "$tmp/notty.err"
fi

# 6. In a real browser (default variant: Chromium takes seconds a page), with JavaScript
# switched off. Chromium's switches do not do it: --disable-javascript does not exist (the
# page's script runs), and --blink-settings=scriptEnabled=false also stops the script that
# --dump-dom itself runs, so the dump comes back empty. The profile's content setting does
# it, as a user who blocks JavaScript in the settings would: Default/Preferences with
# profile.default_content_setting_values.javascript = 2 (block). A canary page proves it:
# its script would change the text, and in that profile it stays as written. A second canary
# with the report's own Content-Security-Policy, opened with JavaScript on, proves that the
# policy alone also forbids script, so a reader with JavaScript on is safe too.
if [ -z "${REPORT_SKIP_BROWSER:-}" ] && [ "$(basename "$BUILD")" = default ] && command -v chromium >/dev/null 2>&1; then
    noscript="$tmp/chromium-noscript" script="$tmp/chromium-script"
    mkdir -p "$noscript/Default" "$script"
    printf '{"profile":{"default_content_setting_values":{"javascript":2}}}\n' \
        >"$noscript/Default/Preferences"
    browse() {   # PROFILE OUT FILE FLAGS...
        profile=$1 out=$2 file=$3; shift 3
        timeout 120 chromium --headless --disable-gpu --no-sandbox --user-data-dir="$profile" \
            "$@" "file://$(realpath "$file")" >"$out" 2>/dev/null
    }
    canary='<p id="x">static</p><script>document.getElementById("x").textContent="RAN"</script>'
    printf '<html><body>%s</body></html>\n' "$canary" >"$tmp/canary.html"
    browse "$noscript" "$tmp/canary.dom" "$tmp/canary.html" --dump-dom
    grep -q '>static<' "$tmp/canary.dom" && ok "chromium: JavaScript off in the profile" ||
        { fail "chromium: canary script ran or no DOM"; head -c 300 "$tmp/canary.dom"; }
    csp=$(grep -o '<meta http-equiv="Content-Security-Policy"[^>]*>' "$tmp/demo.html")
    printf '<html><head>%s</head><body>%s</body></html>\n' "$csp" "$canary" >"$tmp/csp.html"
    browse "$script" "$tmp/csp.dom" "$tmp/csp.html" --dump-dom
    grep -q '>static<' "$tmp/csp.dom" && ok "chromium: the report's policy alone blocks script" ||
        fail "chromium: script ran under the report's policy"
    # The demo's DOM and its screenshot (the test artefact) from one start: each costs seconds.
    png="$(realpath "$art")/report-demo.png"
    rm -f "$png"
    browse "$noscript" "$tmp/demo.dom" "$tmp/demo.html" --window-size=1280,2400 \
        --screenshot="$png" --dump-dom
    dom_check "chromium demo" "$tmp/demo.dom" "$(alerts "$tmp/demo.jsonl")" "mega.nz"
    [ -s "$png" ] && ok "chromium screenshot $art/report-demo.png" || fail "chromium screenshot"
    cp "$tmp/demo.html" "$art/report-demo.html"
    browse "$noscript" "$tmp/corpus.dom" "$tmp/corpus.html" --dump-dom
    dom_check "chromium corpus" "$tmp/corpus.dom" "$(alerts "$tmp/corpus.jsonl")" \
        "$SNI" "$URL" "$HOST"
fi

echo "report: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
