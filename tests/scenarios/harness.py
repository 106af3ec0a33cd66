#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scenario harness for exflow (Python 3 standard library only).

  harness.py check  [--exflow PATH] [--manifest F] [NAME...]   semantic assertions on the gated cases
                                                               (and the slim checks), one line each
  harness.py eval   [--exflow PATH] [--manifest F] [--strict] [NAME...]
                                                               every case: table, scores, ranking check
  harness.py public [--exflow PATH] [--public DIR]             public captures: no crash, benign -> no alert

Run from the repository root (the wrappers run.sh, eval.sh and public.sh do that).
"""

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcaprewrite  # noqa: E402

# Gated scenarios whose whole captures are read slimmed too: every flow record and alert must be
# the same, which is what lets the eval-only captures be stored slimmed (HTTP headers and bodies,
# BITS, FTP control and data, TLS, SSH, parallel streams, UDP).
SLIM_CHECKS = ["py_zip_post", "bits_upload", "ftp_stor_active", "sftp_hourly", "tls_mega",
               "rclone_multistream", "video_call"]
ROOT = os.path.dirname(os.path.dirname(HERE))
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|MemorySanitizer|ThreadSanitizer)|"
                          r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")


def load_manifest(path):
    rows = []
    header = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cells = line.split("\t")
            if header is None:
                header = cells
                continue
            rows.append(dict(zip(header, cells)))
    return rows


def parse_time(value):
    """ISO 8601 (with Z or offset) or epoch number -> epoch seconds (float), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value) / (1e6 if value > 1e12 else 1)
    s = str(value).strip()
    try:
        return float(s)
    except ValueError:
        pass
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()


def fmt_dur(sec):
    if sec is None:
        return "-"
    sign = "-" if sec < 0 else ""
    sec = abs(sec)
    if sec < 120:
        return f"{sign}{sec:.0f}s"
    if sec < 7200:
        return f"{sign}{sec / 60:.0f}m"
    if sec < 2 * 86400:
        return f"{sign}{sec / 3600:.1f}h"
    return f"{sign}{sec / 86400:.1f}d"


def save_events(files, stdout):
    """Keeps the events under $EXFLOW_EVENTS_DIR, for the schema check of tests/run-all.sh."""
    folder = os.environ.get("EXFLOW_EVENTS_DIR")
    if not folder or not stdout:
        return
    folder = os.path.join(folder, "scenarios")
    os.makedirs(folder, exist_ok=True)
    tag = os.path.basename(files[-1]) if files else "stdin"
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=tag + ".", suffix=".jsonl",
                                     delete=False) as f:
        f.write(stdout)


def run_exflow(exflow, files, args, timeout=300):
    """Returns dict(rc, events, bad_lines, stderr, crashed, timed_out)."""
    cmd = [exflow]
    for f in files:
        cmd += ["-r", f]
    cmd += args
    res = dict(cmd=" ".join(shlex.quote(c) for c in cmd), rc=None, events=[], bad_lines=0, stderr="",
               crashed=False, timed_out=False, sanitizer=False)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            p = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=timeout)
            res["rc"] = p.returncode
        except subprocess.TimeoutExpired:
            res["timed_out"] = True
        except OSError as e:
            res["rc"] = 127
            res["stderr"] = str(e)
            return res
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        res["stderr"] = res["stderr"] or err.read().decode("utf-8", "replace")
    save_events(files, stdout)
    rc = res["rc"]
    res["crashed"] = rc is not None and (rc < 0 or rc >= 128)
    res["sanitizer"] = bool(SANITIZER_RE.search(res["stderr"]))
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            res["bad_lines"] += 1
            continue
        if isinstance(ev, dict):
            res["events"].append(ev)
        else:
            res["bad_lines"] += 1
    return res


def alerts_of(events):
    return [e for e in events if e.get("event_type") == "alert"]


def is_update(alert):
    return bool(alert.get("is_update") or alert.get("update"))


def matches_dest(alert, dest):
    if dest in ("", "-", None):
        return True
    d = dest.lower()
    return str(alert.get("dest_name", "")).lower() == d or str(alert.get("dest_ip", "")).lower() == d


def as_list(v):
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return [x for x in re.split(r"[,\s]+", str(v)) if x]


def evaluate(row, res):
    """Compares one exflow run with its manifest row. Returns a dict with the verdict."""
    client, dest = row["src_ip"], row["dest"]
    lo, hi = (int(x) for x in row["alerts"].split("-"))
    alerts = alerts_of(res["events"])
    mine = [a for a in alerts if a.get("src_ip") == client and matches_dest(a, dest)]
    other = [a for a in alerts if a not in mine]
    counted = [a for a in mine if not is_update(a)]
    problems = []
    if res["timed_out"]:
        problems.append("timed out")
    if res["crashed"]:
        problems.append(f"crashed (exit {res['rc']})")
    elif res["rc"] not in (0, None):
        problems.append(f"exit {res['rc']}: {res['stderr'].strip().splitlines()[-1] if res['stderr'].strip() else ''}")
    if res["sanitizer"]:
        problems.append("sanitizer report")
    if res["bad_lines"]:
        problems.append(f"{res['bad_lines']} stdout lines are not JSON")
    n = len(counted)
    if not lo <= n <= hi:
        problems.append(f"{n} alerts to {dest} (expected {lo}-{hi})")
    techs = sorted({t for a in mine for t in as_list(a.get("techniques"))})
    evid = sorted({t for a in mine for t in as_list(a.get("evidence"))})
    apps = {str(a.get("app_protocol", "")).lower() for a in mine}
    if mine:
        for t in as_list(row["techniques"].replace("-", "")):
            if t.endswith("*"):
                ok = any(x.startswith(t[:-1]) for x in techs)
            else:
                ok = t in techs
            if not ok:
                problems.append(f"technique {t} missing (got {','.join(techs) or 'none'})")
        for e in as_list(row["evidence"].replace("-", "")):
            if e not in evid:
                problems.append(f"evidence {e} missing (got {','.join(evid) or 'none'})")
        if row["app_protocol"] not in ("", "-"):
            alts = [x.lower() for x in row["app_protocol"].split("|")]
            if not any(alt in app for app in apps for alt in alts):
                problems.append(f"app_protocol not {row['app_protocol']} (got {','.join(sorted(apps))})")
    for a in other:
        problems.append("unexpected alert %s -> %s (%s)" % (a.get("src_ip"), a.get("dest_name") or a.get("dest_ip"),
                                                             ",".join(as_list(a.get("evidence")))))
    if row["kind"] == "new_job":
        # A job first seen after learning: its first run may alert once, low; the same job
        # repeating must never escalate or re-alert (updates count here too).
        if len(mine) > 1:
            problems.append(f"{len(mine)} alerts to {dest}: the repeating job escalated or re-alerted")
        for a in mine:
            if str(a.get("severity", "")).lower() != "low":
                problems.append(f"severity {a.get('severity')} (a new job's first run alerts low at most)")
    t0 = parse_time(row.get("first_transfer"))
    first_alert = min((parse_time(a.get("timestamp")) for a in mine if parse_time(a.get("timestamp"))), default=None)
    return dict(ok=not problems, problems=problems, n=n, mine=mine, other=other, techs=techs, evid=evid,
                apps=sorted(apps), ttd=(first_alert - t0) if (first_alert is not None and t0 is not None) else None)


def scenario_runs(row):
    """[(files, args), ...]: one exflow process per run. `pcaps` and `args` separate runs with
    ';' (a restart between them); runs share a state file, which the harness adds."""
    pcaps = row["pcaps"].split(";")
    argv = row["args"].split(";")
    if len(argv) == 1:
        argv = argv * len(pcaps)
    if len(argv) != len(pcaps):
        raise SystemExit(f"harness: {row['name']}: {len(pcaps)} runs in pcaps but {len(argv)} in args")
    return [([os.path.join(ROOT, p) for p in files.split(",")], [] if a.strip() in ("", "-") else shlex.split(a))
            for files, a in zip(pcaps, argv)]


def scenario_files(row):
    return [f for files, _ in scenario_runs(row) for f in files]


def is_gated(row):
    """Gated rows are asserted by `make check`; eval-only rows are reported by `make eval` only."""
    return row.get("gate", "check") != "eval"


def run_scenario(exflow, row):
    """Runs every run of a scenario in order (sharing a state file) and merges what they said."""
    runs = scenario_runs(row)
    if len(runs) == 1:
        return run_exflow(exflow, *runs[0])
    with tempfile.TemporaryDirectory(prefix="exflow-scenario-") as tmp:
        state = os.path.join(tmp, "state")
        merged = None
        for files, args in runs:
            res = run_exflow(exflow, files, args + ["--state-file", state])
            if merged is None:
                merged = res
                continue
            merged["cmd"] += " ; " + res["cmd"]
            merged["events"] += res["events"]
            merged["bad_lines"] += res["bad_lines"]
            merged["stderr"] += res["stderr"]
            merged["timed_out"] = merged["timed_out"] or res["timed_out"]
            merged["crashed"] = merged["crashed"] or res["crashed"]
            merged["sanitizer"] = merged["sanitizer"] or res["sanitizer"]
            if merged["rc"] in (0, None) or res["crashed"]:
                merged["rc"] = res["rc"]
        return merged


def cmd_check(args):
    rows = load_manifest(args.manifest)
    if args.names:
        rows = [r for r in rows if r["name"] in args.names]
    else:
        rows = [r for r in rows if is_gated(r)]
    passed = failed = 0
    for row in rows:
        missing = [f for f in scenario_files(row) if not os.path.exists(f)]
        if missing:
            print(f"FAIL {row['name']}: missing {', '.join(missing)}")
            failed += 1
            continue
        res = run_scenario(args.exflow, row)
        v = evaluate(row, res)
        if v["ok"]:
            passed += 1
            if row["kind"] == "benign":
                print(f"PASS {row['name']}: no alert")
            elif row["kind"] == "new_job":
                print(f"PASS {row['name']}: {v['n']} alert(s), low, no escalation or re-alert")
            else:
                print(f"PASS {row['name']}: {v['n']} alert(s) -> {row['dest']} [{','.join(v['techs'])}] "
                      f"evidence {','.join(v['evid'])}, first after {fmt_dur(v['ttd'])}")
        else:
            failed += 1
            print(f"FAIL {row['name']}: {'; '.join(v['problems'])}")
            if args.verbose:
                print(f"     {res['cmd']}")
    if not args.names:
        p, f = check_slim(args.exflow)
        passed += p
        failed += f
    print(f"scenarios: {passed} passed, {failed} failed")
    return 1 if failed else 0


def check_slim(exflow):
    """Slimming a capture (bulk payload cut to headers, wire lengths kept) changes nothing
    exflow reports: flow records and alerts are byte-identical."""
    passed = failed = 0
    baseline = os.path.join(ROOT, "pcaps/scenarios/baseline.pcap")
    with tempfile.TemporaryDirectory(prefix="exflow-slim-") as tmp:
        for name in SLIM_CHECKS:
            whole = os.path.join(ROOT, f"pcaps/scenarios/{name}.pcap")
            slimmed = os.path.join(tmp, name + ".pcap")
            linktype, packets = pcaprewrite.read_pcap(whole)
            pcaprewrite.write_pcap(slimmed, pcaprewrite.slim(packets), linktype)
            # One run id for both, so event ids match too (they are random per run otherwise).
            same_ids = ["--learn", "3d", "--run-id", "0b5e7c1a-3f2d-4c8e-9a6b-5d4c3b2a1f0e"]
            a = run_exflow(exflow, [baseline, whole], same_ids)
            b = run_exflow(exflow, [baseline, slimmed], same_ids)
            saved = 100 - 100 * os.path.getsize(slimmed) // os.path.getsize(whole)
            # The stats event (CPU seconds, RSS) differs between any two runs: not compared.
            for r in (a, b):
                r["events"] = [e for e in r["events"] if e.get("event_type") != "stats"]
            if a["rc"] == 0 and b["rc"] == 0 and a["events"] and a["events"] == b["events"]:
                passed += 1
                print(f"PASS slim {name}: {len(a['events'])} events identical, capture {saved}% smaller")
            else:
                failed += 1
                print(f"FAIL slim {name}: exit {a['rc']}/{b['rc']}, {len(a['events'])} events whole, "
                      f"{len(b['events'])} slimmed, identical: {a['events'] == b['events']}")
    return passed, failed


SEVERITIES = ["info", "low", "medium", "high", "critical"]


def case_score(row, res, v):
    """(score, severity) a case is ranked by: for an exfiltration case the highest score among its
    host's alerts to its destination (0 when it was missed); for a benign case the highest score of
    any alert in the run, since every alert there is a false positive."""
    alerts = v["mine"] if row["kind"] == "positive" else alerts_of(res["events"])
    best, sev = 0.0, "-"
    for a in alerts:
        try:
            score = float(a.get("score") or 0.0)
        except (TypeError, ValueError):
            score = 0.0
        best = max(best, score)
        s = str(a.get("severity", "")).lower()
        if s in SEVERITIES and (sev == "-" or SEVERITIES.index(s) > SEVERITIES.index(sev)):
            sev = s
    return best, sev


def ranking_check(scored):
    """Lowest exfiltration score minus highest benign score: positive means every exfiltration
    case outranks every benign look-alike. Returns (margin, lowest positive, highest benign)."""
    pos = [(s, n) for n, kind, s in scored if kind == "positive"]
    ben = [(s, n) for n, kind, s in scored if kind == "benign"]
    if not pos or not ben:
        return None, None, None
    low, high = min(pos), max(ben)
    return low[0] - high[0], low, high


def restart_comparison(results):
    """For each restart case (runs separated by ';') whose one-run twin NAME_onerun also ran:
    are the alerts the same, apart from alert, flow and event ids? Lines to print."""
    out = []
    for name, (row, res) in sorted(results.items()):
        twin = results.get(name + "_onerun")
        if ";" not in row["pcaps"] or twin is None:
            continue
        # Ids are per process: alert_id and flow_id restart, event_id names the run.
        norm = [sorted(json.dumps({k: v for k, v in a.items() if k not in ("alert_id", "flow_id", "event_id")},
                                  sort_keys=True)
                       for a in alerts_of(r["events"])) for r in (res, twin[1])]
        verdict = "identical" if norm[0] == norm[1] else "DIFFER"
        out.append(f"restart: {name} ({len(norm[0])} alerts over the restart) vs {name}_onerun "
                   f"({len(norm[1])} in one run): {verdict}")
    return out


def cmd_eval(args):
    rows = load_manifest(args.manifest)
    if args.names:
        rows = [r for r in rows if r["name"] in args.names]
    tp = fp = fn = tn = 0
    alerts_total = alerts_expected = 0
    ttds = []
    lines = []
    scored = []
    results = {}
    hdr = (f"{'case':24s} {'kind':8s} {'gate':5s} {'expected':8s} {'alerts':>6s} {'score':>6s} {'severity':8s} "
           f"{'result':6s} {'detect':>7s}  detail")
    for row in rows:
        res = run_scenario(args.exflow, row)
        results[row["name"]] = (row, res)
        v = evaluate(row, res)
        nall = len(alerts_of(res["events"]))
        alerts_total += nall if row["kind"] != "control" else 0
        alerts_expected += len(v["mine"]) if row["kind"] == "positive" else 0
        score, severity = case_score(row, res, v)
        if row["kind"] == "control":
            result = "ok" if v["ok"] else "MISS"
            expected = row["alerts"]
        elif row["kind"] == "new_job":
            result = "ok" if v["ok"] else "FAIL"
            expected = row["alerts"]
        elif row["kind"] == "positive":
            scored.append((row["name"], "positive", score))
            if v["mine"]:
                tp += 1
                result = "TP" if v["ok"] else "TP*"
                if v["ttd"] is not None:
                    ttds.append(v["ttd"])
            else:
                fn += 1
                result = "FN"
            if v["other"]:
                fp += 1
            expected = row["alerts"]
        else:
            scored.append((row["name"], "benign", score))
            if nall:
                fp += 1
                result = "FP"
            else:
                tn += 1
                result = "TN"
            expected = "0"
        if res["crashed"] or res["rc"] not in (0, None) or res["timed_out"]:
            result += "!"
        detail = ", ".join(v["problems"]) if v["problems"] else (
            f"[{','.join(v['techs'])}] {','.join(v['evid'])}" if v["mine"] else "")
        if args.verbose and not v["ok"]:
            detail += f"  ({res['cmd']})"
        gate = "check" if is_gated(row) else "eval"
        lines.append(f"{row['name']:24s} {row['kind']:8s} {gate:5s} {expected:8s} {nall:>6d} {score:6.3f} "
                     f"{severity:8s} {result:6s} {fmt_dur(v['ttd']) if v['mine'] else '-':>7s}  {detail}")
        sys.stdout.flush()
    print(hdr)
    print("-" * len(hdr))
    for line in lines:
        print(line)
    print("-" * len(hdr))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    ttds.sort()
    med = ttds[len(ttds) // 2] if ttds else None
    print(f"TP {tp}  FP {fp}  FN {fn}  TN {tn}   precision {precision:.2f}  recall {recall:.2f}   "
          f"alerts {alerts_total} ({alerts_expected} on expected destinations)")
    print(f"time from first transfer to first alert (packet time): median {fmt_dur(med)}, "
          f"max {fmt_dur(ttds[-1] if ttds else None)}")
    print("TP* = detected, but a semantic check failed (see detail); ! = exflow exited non-zero; "
          "control and new_job rows (ok/MISS/FAIL) are not counted; gate: check = asserted by make check, "
          "eval = reported only")
    for line in restart_comparison(results):
        print(line)
    new_jobs = sorted(r["name"] for r, _ in results.values() if r["kind"] == "new_job")
    if new_jobs:
        print(f"ranking: not ranked (kind new_job): {', '.join(new_jobs)}: a job first seen after learning; its "
              "first run is a new bulk upload to a new destination, which cannot be told from a one-shot theft of "
              "that size, so it may alert once, low; checked instead: never escalates, never re-alerts")
    margin, low, high = ranking_check(scored)
    if margin is None:
        print("ranking: needs at least one exfiltration and one benign case")
        return 0
    verdict = "PASS" if margin > 0 else "FAIL"
    print(f"ranking: lowest exfiltration {low[0]:.3f} ({low[1]}) - highest benign {high[0]:.3f} ({high[1]}) "
          f"= {margin:+.3f}  {verdict}")
    if margin <= 0:
        below = sorted(n for n, kind, s in scored if kind == "positive" and s <= high[0])
        above = sorted(n for n, kind, s in scored if kind == "benign" and s >= low[0] and s > 0)
        print(f"ranking: exfiltration at or below the top benign score: {', '.join(below)}")
        print(f"ranking: benign at or above the lowest exfiltration score: {', '.join(above)}")
    return 1 if args.strict and margin <= 0 else 0


def parse_contents(path):
    """CONTENTS.md -> ({relpath: category}, set of 'libpcap cannot read fully' paths)."""
    cats, unreadable = {}, set()
    with open(path) as f:
        for line in f:
            if line.startswith("- **libpcap cannot read fully**"):
                unreadable.update(re.findall(r"`([^`]+)`", line))
            if not line.startswith("| ") or line.startswith("|---"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 5 and "/" in cells[0]:
                cats[cells[0]] = cells[4]
    return cats, unreadable


def cmd_public(args):
    base = args.public
    if not os.path.isdir(base):
        print(f"public: {base} not found, nothing to run")
        print("public: 0 passed, 0 failed")
        return 0
    contents = os.path.join(base, "CONTENTS.md")
    cats, unreadable = parse_contents(contents) if os.path.exists(contents) else ({}, set())
    files = []
    for d, _, names in os.walk(base):
        for n in names:
            if re.search(r"\.(pcap|pcapng|cap)$", n):
                files.append(os.path.relpath(os.path.join(d, n), base))
    files.sort()
    passed = failed = 0
    benign_alerting = []
    benign_total = 0
    exits = {}
    # Two runs at a time: each is a process of its own (most of its time nDPI's start-up),
    # and the results are read in file order, so the report is the same.
    def one(rel):
        return run_exflow(args.exflow, [os.path.join(base, rel)], ["--no-flows"],
                          timeout=args.timeout)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, files))
    for rel, res in zip(files, results):
        cat = cats.get(rel, "?")
        problems = []
        allowed = (0, 1, 2) if rel in unreadable else (0,)
        exits[res["rc"]] = exits.get(res["rc"], 0) + 1
        if res["timed_out"]:
            problems.append(f"timed out after {args.timeout}s")
        elif res["crashed"]:
            problems.append(f"CRASH exit {res['rc']}")
        elif res["rc"] not in allowed:
            last = res["stderr"].strip().splitlines()[-1] if res["stderr"].strip() else ""
            problems.append(f"exit {res['rc']} ({last[:120]})")
        if res["sanitizer"]:
            problems.append("sanitizer report")
        alerts = alerts_of(res["events"])
        if cat.startswith("BENIGN"):
            benign_total += 1
            if alerts:
                benign_alerting.append(rel)
                problems.append("BENIGN capture alerted: " + "; ".join(
                    "%s -> %s %s" % (a.get("src_ip"), a.get("dest_name") or a.get("dest_ip"),
                                     ",".join(as_list(a.get("evidence")))) for a in alerts[:3]))
        if problems:
            failed += 1
            print(f"FAIL {rel} [{cat}]: {'; '.join(problems)}")
        else:
            passed += 1
            if args.verbose:
                print(f"ok   {rel} [{cat}] exit {res['rc']}, {len(alerts)} alert(s)")
    print(f"public: exit codes {dict(sorted((str(k), v) for k, v in exits.items()))}; "
          f"BENIGN captures with alerts: {len(benign_alerting)} of {benign_total}")
    print(f"public: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check", "eval", "public"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--exflow", default=os.environ.get("EXFLOW", "./exflow"))
    ap.add_argument("--manifest", default=os.path.join(HERE, "manifest.tsv"))
    ap.add_argument("--public", default=os.path.join(ROOT, "..", "shared", "pcaps", "public"))
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--strict", action="store_true", help="eval: exit 1 when the ranking check fails")
    args = ap.parse_intermixed_args()
    os.chdir(ROOT)
    if not (os.path.isfile(args.exflow) and os.access(args.exflow, os.X_OK)):
        print(f"harness: {args.exflow} is not an executable (build it with make)", file=sys.stderr)
        label = {"check": "scenarios", "eval": "eval", "public": "public"}[args.cmd]
        print(f"{label}: 0 passed, 1 failed")
        return 1
    return {"check": cmd_check, "eval": cmd_eval, "public": cmd_public}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
