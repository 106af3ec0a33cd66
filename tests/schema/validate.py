#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validates JSON-lines event files against docs/schema/exflow-events.schema.json.

usage: validate.py SCHEMA PATH...   (a PATH is a file or a folder searched for *.out/*.jsonl)

Every line must be a JSON object that the schema accepts. Prints one line per failure (the
first 20), then "schema: N passed, N failed" with N counting events. Fails too when no flow,
alert or stats event was seen at all: a check that validated nothing proves nothing.
Needs Debian's python3-jsonschema (4.10 or later: draft 2020-12).
"""
import json
import os
import sys

from jsonschema import Draft202012Validator, FormatChecker


def event_files(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
        for root, _dirs, files in os.walk(path):
            for name in sorted(files):
                if name.endswith((".out", ".jsonl")):
                    yield os.path.join(root, name)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    schema = json.load(open(argv[1]))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    passed = failed = 0
    seen = {}
    problems = []
    for path in event_files(argv[2:]):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = "%s:%d" % (path, number)
                try:
                    event = json.loads(line)
                except ValueError as e:
                    problems.append("%s: not JSON: %s" % (where, e))
                    failed += 1
                    continue
                errors = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
                if errors:
                    failed += 1
                    for e in errors[:3]:
                        field = "/".join(str(p) for p in e.absolute_path) or "(event)"
                        problems.append("%s: %s: %s" % (where, field, e.message[:200]))
                else:
                    passed += 1
                    kind = event.get("event_type")
                    seen[kind] = seen.get(kind, 0) + 1
    for kind in ("flow", "alert", "stats"):
        if not seen.get(kind):
            problems.append("no %s event was validated" % kind)
            failed += 1
    for p in problems[:20]:
        print("FAIL " + p)
    if len(problems) > 20:
        print("... and %d more" % (len(problems) - 20))
    print("validated: " + ", ".join("%d %s" % (n, k) for k, n in sorted(seen.items())))
    print("schema: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
