#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks what a real rsyslog received from exflow's syslog sink.

usage: check_received.py RAW PARSED FIRST_ID LAST_ID json|cef [--at-least-once]
       check_received.py RAW PARSED --ids-from EXFLOW_JSON json|cef

--at-least-once: every expected id must arrive, in order of first arrival; a resent one may
arrive again (RELP after a collector crash), and how many did is reported.

RAW holds one %rawmsg% per line, PARSED rsyslog's own reading of the same messages
(protocol-version|app-name|msgid|procid). Every message must be valid RFC 5424 with exflow's
structured data, and the alert ids must be exactly the expected ones: each once, in order.
Prints one line: "ok: ..." or "FAIL: ..."; exits 1 on failure.
"""
import json
import re
import sys

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA SP MSG, with our fixed APP-NAME and MSGID.
HEADER = re.compile(
    r'^<(?P<pri>\d{1,3})>1 '
    r'(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) '
    r'(?P<host>[!-~]{1,255}) exflow (?P<procid>\d+) ALERT '
    r'(?P<sd>\[exflow@32473(?: [^= \]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")+\]) '
    r'(?P<msg>.*)$')
PARAM = re.compile(r' ([^= \]"]{1,32})="((?:[^"\\\]]|\\["\\\]])*)"')
SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    at_least_once = args[-1:] == ["--at-least-once"]
    if at_least_once:
        args = args[:-1]
    if len(args) != 5:
        fail("usage: check_received.py RAW PARSED FIRST LAST|--ids-from FILE json|cef")
    raw_path, parsed_path, body_format = args[0], args[1], args[4]
    if args[2] == "--ids-from":
        with open(args[3]) as f:
            expected = [json.loads(l)["alert_id"] for l in f
                        if '"event_type":"alert"' in l]
    else:
        expected = list(range(int(args[2]), int(args[3]) + 1))

    with open(raw_path, encoding="utf-8", errors="strict") as f:
        raw = [l.rstrip("\n") for l in f if l.strip()]
    with open(parsed_path) as f:
        parsed = [l.rstrip("\n") for l in f if l.strip()]

    ids = []
    for n, line in enumerate(raw, 1):
        m = HEADER.match(line)
        if not m:
            fail("line %d is not RFC 5424 with exflow's SD: %.200s" % (n, line))
        params = {k: re.sub(r'\\(["\\\]])', r"\1", v) for k, v in PARAM.findall(m.group("sd"))}
        for key in ("alert_id", "severity", "score", "src_ip", "dest_ip", "dest_port", "proto",
                    "techniques", "evidence", "bytes_out", "connections"):
            if key not in params:
                fail("line %d: structured data lacks %s" % (n, key))
        pri = int(m.group("pri"))
        if pri % 8 != SEVERITY[params["severity"]]:
            fail("line %d: PRI %d does not carry severity %s" % (n, pri, params["severity"]))
        alert_id = int(params["alert_id"])
        body = m.group("msg")
        if body_format == "json":
            event = json.loads(body)
            if event.get("event_type") != "alert" or event.get("alert_id") != alert_id:
                fail("line %d: JSON body does not match the SD (alert_id %d)" % (n, alert_id))
            if "dest_name" in event and params.get("dest_name") not in (None, event["dest_name"]):
                fail("line %d: dest_name differs between SD and body" % n)
        else:
            if not body.startswith("CEF:0|exflow|exflow|") or \
                    (" externalId=%d " % alert_id) not in body:
                fail("line %d: CEF body malformed: %.200s" % (n, body))
        ids.append(alert_id)

    if len(parsed) != len(raw):
        fail("rsyslog parsed %d messages but logged %d raw ones" % (len(parsed), len(raw)))
    for n, line in enumerate(parsed, 1):
        fields = line.split("|")
        if fields[:3] != ["1", "exflow", "ALERT"]:
            fail("rsyslog did not parse line %d as RFC 5424 from exflow: %s" % (n, line))

    if at_least_once:
        first_seen = list(dict.fromkeys(ids))
        if first_seen == expected:
            print("ok: %d alerts, each at least once (%d resent after the crash arrived twice), "
                  "in order, valid RFC 5424" % (len(expected), len(ids) - len(expected)))
            return
    if ids != expected:
        missing = sorted(set(expected) - set(ids))
        extra = sorted(set(ids) - set(expected))
        dups = sorted({i for i in ids if ids.count(i) > 1})
        fail("alert ids: %d received, %d expected; missing %s, unexpected %s, duplicated %s%s"
             % (len(ids), len(expected), missing[:10], extra[:10], dups[:10],
                "" if missing or extra or dups else ", out of order"))
    print("ok: %d alerts, each once, in order, valid RFC 5424" % len(ids))


if __name__ == "__main__":
    main()
