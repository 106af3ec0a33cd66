#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restart test: each scenario read whole by one exflow, and read in two runs (baseline,
then the scenario day) sharing one --state-file, must give the same alerts apart from
alert_id, event_id and flow_id (ids restart with the process). Prints "restart: N passed, N failed".

  restart.py [--exflow PATH] [NAME...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

# Ids are per process: alert_id and flow_id restart, event_id names the run.
IGNORED = ("alert_id", "flow_id", "event_id")


def alerts(exflow, files, args):
    cmd = [exflow, "--no-flows"]
    for f in files:
        cmd += ["-r", f]
    cmd += args
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.decode()[-400:]}")
    out = []
    for line in res.stdout.decode().splitlines():
        event = json.loads(line)
        if event.get("event_type") == "alert":
            out.append({k: v for k, v in event.items() if k not in IGNORED})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exflow", default="./exflow")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    passed = failed = 0
    for row in harness.load_manifest(os.path.join(HERE, "manifest.tsv")):
        if args.names and row["name"] not in args.names:
            continue
        runs = harness.scenario_runs(row)
        # One run of baseline + scenario day, asserted by make check: restart cases of the
        # manifest (runs separated by ';') already restart on their own.
        if len(runs) != 1 or len(runs[0][0]) != 2 or not harness.is_gated(row):
            continue
        files, extra = runs[0]
        with tempfile.TemporaryDirectory() as tmp:
            state = os.path.join(tmp, "state")
            try:
                whole = alerts(args.exflow, files, extra)
                split = alerts(args.exflow, files[:1], extra + ["--state-file", state])
                split += alerts(args.exflow, files[1:], extra + ["--state-file", state])
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                print(f"FAIL {row['name']}: {e}")
                failed += 1
                continue
        if whole == split:
            print(f"PASS {row['name']}: {len(whole)} alert(s) identical across a restart")
            passed += 1
            continue
        failed += 1
        print(f"FAIL {row['name']}: whole run {len(whole)} alert(s), two runs {len(split)}")
        for a, b in zip(whole, split):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    print(f"     {k}: whole {a.get(k)!r} / two runs {b.get(k)!r}")
            break
    print(f"restart: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
