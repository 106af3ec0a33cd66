#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compares the alerts of two exflow JSON-lines outputs: same alerts, same order, same fields,
event_id aside (it differs between runs unless both were given one --run-id). Prints the
fields of the first alert that differs and exits 1; prints the alert count and exits 0 when
they agree. tests/report/rescore.sh uses it to say what differs."""
import json
import sys

IGNORED = {"event_id"}


def alerts(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            if event.get("event_type") == "alert":
                out.append({k: v for k, v in event.items() if k not in IGNORED})
    return out


def main():
    a, b = alerts(sys.argv[1]), alerts(sys.argv[2])
    if len(a) != len(b):
        print(f"{len(a)} alerts from the captures, {len(b)} from the flow events")
    for x, y in zip(a, b):
        if x != y:
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            for k in keys:
                print(f"alert {x.get('alert_id')}: {k}: {x.get(k)!r} != {y.get(k)!r}")
            return 1
    if len(a) != len(b):
        return 1
    print(len(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
