#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks the collector recipes of docs/siem/ against the schema and against real output.

usage: check_recipes.py SCHEMA SIEM_DIR [EVENTS_DIR]

- The Elastic ingest pipeline is well-formed JSON of known processors, and every exflow.*
  field it reads is one the schema defines.
- The Splunk props.conf/transforms.conf parse, every REPORT names a transforms stanza, and
  the CEF extractions (run with Python's re, whose syntax these regexes keep to) give back
  the fields of real CEF alerts (EVENTS_DIR/events/syslog.cef.txt, written by tests/events).
- The Sentinel parser reads only fields the schema defines.
Prints one line per check, "ok ..." or "FAIL ...".
"""
import configparser
import json
import os
import re
import sys

ELASTIC_PROCESSORS = {"script", "date", "set", "lowercase", "convert", "rename", "remove",
                      "append", "json", "community_id", "geoip", "user_agent", "dissect",
                      "grok", "split", "foreach", "pipeline", "fail", "drop"}


def schema_fields(schema):
    """Every property path (a, a.b) of the flow, alert and stats events."""
    fields = set()
    defs = schema["$defs"]
    for kind in ("flow", "alert", "stats"):
        for name, prop in defs[kind]["properties"].items():
            fields.add(name)
            target = prop
            if "$ref" in prop:
                target = defs[prop["$ref"].split("/")[-1]]
            for sub in target.get("properties", {}):
                fields.add(name + "." + sub)
    return fields


def check_elastic(path, fields, report):
    try:
        pipeline = json.load(open(path))
    except ValueError as e:
        return report(False, "elastic pipeline is not JSON: %s" % e)
    processors = pipeline.get("processors")
    if not isinstance(processors, list) or not processors:
        return report(False, "elastic pipeline has no processors list")
    bad = []
    read = set()
    for i, proc in enumerate(processors + pipeline.get("on_failure", [])):
        if not isinstance(proc, dict) or len(proc) != 1:
            bad.append("processor %d is not one {type: {...}}" % i)
            continue
        kind, body = next(iter(proc.items()))
        if kind not in ELASTIC_PROCESSORS or not isinstance(body, dict):
            bad.append("processor %d: unknown type %s" % (i, kind))
        for key in ("field", "copy_from"):
            value = body.get(key, "") if isinstance(body, dict) else ""
            if value.startswith("exflow."):
                read.add(value[len("exflow."):])
        source = body.get("source", "") if isinstance(body, dict) else ""
        read.update(re.findall(r"\be\.([a-z_]+)", source))
    unknown = sorted(f for f in read if f not in fields)
    if unknown:
        bad.append("reads fields the schema lacks: %s" % unknown)
    report(not bad, "elastic ingest pipeline (%d processors, %d exflow fields)%s" %
           (len(processors), len(read), ": " + "; ".join(bad) if bad else ""))


def read_conf(path):
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str
    with open(path) as f:
        parser.read_file(f)
    return parser


def unescape_cef(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else
                  "\r" if m.group(1) == "r" else m.group(1), value)


def check_splunk(folder, events_dir, report):
    try:
        props = read_conf(os.path.join(folder, "props.conf"))
        transforms = read_conf(os.path.join(folder, "transforms.conf"))
    except (OSError, configparser.Error) as e:
        return report(False, "splunk conf does not parse: %s" % e)
    missing = [name.strip() for section in props.sections() for key, value in props[section].items()
               if key.startswith("REPORT-") for name in value.split(",")
               if name.strip() not in transforms.sections()]
    report(not missing and {"exflow:json", "exflow:syslog", "exflow:cef"} <= set(props.sections()),
           "splunk props/transforms stanzas%s" % (": missing " + str(missing) if missing else ""))

    cef_path = os.path.join(events_dir or "", "events", "syslog.cef.txt")
    alerts_path = os.path.join(events_dir or "", "events", "syslog.cef-alerts.json")
    if not events_dir or not os.path.exists(cef_path):
        print("skip splunk CEF extraction (no CEF alerts from tests/events)")
        return
    header = re.compile(transforms["exflow_cef_header"]["REGEX"])
    extension = re.compile(transforms["exflow_cef_extension"]["REGEX"])
    lines = open(cef_path, encoding="utf-8").read().splitlines()
    alerts = json.load(open(alerts_path))
    bad = []
    for line, alert in zip(lines, alerts):
        h = header.search(line)
        if not h:
            bad.append("header not matched: %.80s" % line)
            continue
        body = line[line.index("CEF:"):]
        fields = {m.group(1): unescape_cef(m.group(2)) for m in extension.finditer(body)}
        want = {"src": alert["src_ip"], "dst": alert["dest_ip"], "spt": str(alert["src_port"]),
                "dpt": str(alert["dest_port"]), "cs4": alert["event_id"],
                "cs3": alert["community_id"], "externalId": str(alert["alert_id"]),
                "msg": alert["reason"], "cs1": ",".join(alert["techniques"]),
                "dhost": alert.get("dest_name")}
        for key, value in want.items():
            if value is not None and fields.get(key) != value:
                bad.append("alert %d: %s extracted as %r, want %r" %
                           (alert["alert_id"], key, fields.get(key), value))
    # exflow:syslog: the SEDCMD cuts the RFC 5424 header and structured data, leaving the JSON.
    sed = props["exflow:syslog"]["SEDCMD-exflow_strip_header"]
    match = re.fullmatch(r"s/(.*)/(.*)/g?", sed)
    syslog_path = os.path.join(events_dir, "events", "syslog.syslog-json.txt")
    json_lines = open(syslog_path, encoding="utf-8").read().splitlines() if match else []
    if not match or len(json_lines) != len(alerts):
        bad.append("SEDCMD or the JSON syslog alerts missing")
    for line, alert in zip(json_lines, alerts):
        pattern = match.group(1).replace(r"\xEF\xBB\xBF", "\ufeff")
        try:
            event = json.loads(re.sub(pattern, match.group(2), line, count=1))
        except ValueError:
            bad.append("SEDCMD leaves no JSON: %.100r" % line)
            continue
        if event != alert:
            bad.append("SEDCMD'd JSON differs from the alert %d" % alert["alert_id"])
    report(not bad and len(lines) == len(alerts) and lines,
           "splunk CEF and syslog-JSON extraction over %d real alerts%s" % (len(lines), ": " + "; ".join(bad[:5]) if bad else ""))


def check_sentinel(path, fields, report):
    text = open(path).read()
    used = set(re.findall(r"\be\.([a-z_]+(?:\.[a-z_]+)?)", text))
    unknown = sorted(f for f in used if f not in fields)
    report(not unknown and "ExflowEvents" in text and "ExflowCefAlerts" in text,
           "sentinel parser reads %d schema fields%s" % (len(used), ": unknown " + str(unknown) if unknown else ""))


def main(argv):
    schema = json.load(open(argv[1]))
    folder = argv[2]
    events_dir = argv[3] if len(argv) > 3 else None
    results = []

    def report(ok, text):
        results.append(ok)
        print(("ok   " if ok else "FAIL ") + text)

    fields = schema_fields(schema)
    check_elastic(os.path.join(folder, "elastic-ingest-pipeline.json"), fields, report)
    check_splunk(os.path.join(folder, "splunk"), events_dir, report)
    check_sentinel(os.path.join(folder, "sentinel-exflow-parser.kql"), fields, report)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
