#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Flow-input table of `make eval`: every scenario of tests/scenarios/manifest.tsv read as
packets (`exflow -r`), and replayed by softflowd as IPFIX (-v 10) and NetFlow v9 (-v 9), and
by nfdump (nfpcapd makes flow files of the capture, nfreplay sends them as NetFlow v9) into
`exflow --collect`. Per scenario it prints whether the collect-mode alerts match the
pcap-mode alerts on what flow records carry (source, destination, volume, ratio, schedule,
flow evidence), and why not when they do not.

  eval.py [--exflow PATH] [--jobs N] [--modes v10,v9,nf9,nf5] [NAME...]

Run from the repository root. Needs softflowd and softflowctl (Debian softflowd); the nf
modes need nfpcapd, nfdump and nfreplay (Debian nfdump) and are left out without them.
"""

import argparse
import concurrent.futures
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "scenarios"))
import harness  # noqa: E402

# What flow records carry, and what only payload shows (the collector names the latter in
# evidence_unavailable).
FLOW_EVIDENCE = {"new_destination", "periodic", "volume_anomaly", "parallel_streams", "bulk_upload",
                 "persistent", "ssh_upload"}
PAYLOAD_EVIDENCE = {"http_upload", "ftp_stor", "cloud_storage", "dns_tunnel", "icmp_tunnel", "smtp_exfil",
                    "packed_data"}
MODES = {"v10": ["-v", "10", "-A", "milli"], "v9": ["-v", "9", "-a"], "nf9": ["9"], "nf5": ["5"]}
MODE_NAMES = {"v10": "softflowd -v 10", "v9": "softflowd -v 9", "nf9": "nfreplay -v 9", "nf5": "nfreplay -v 5"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_bound(port, proc, limit=10.0):
    """True once something holds the UDP port (exflow has bound it)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return True
        time.sleep(0.05)
    return False


def softflowd_replay(pcap, port, args, tmp):
    """softflowd 1.1.0 in -r mode waits on its control socket before it reads the file and
    does not exit at its end: `statistics` starts the replay, `shutdown` exports every flow."""
    ctl = os.path.join(tmp, "ctl")
    cmd = ["softflowd", "-d", "-r", pcap, "-n", f"127.0.0.1:{port}", "-p", os.path.join(tmp, "pid"),
           "-c", ctl] + args
    sf = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(ctl):
            break
        time.sleep(0.05)
    subprocess.run(["softflowctl", "-c", ctl, "statistics"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(["softflowctl", "-c", ctl, "shutdown"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        sf.wait(timeout=120)
    except subprocess.TimeoutExpired:
        sf.kill()
        sf.wait()
    if os.path.exists(ctl):
        os.unlink(ctl)


QUIET = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


NFDUMP_CACHE = {}       # capture -> its flow file, made once per run (the baseline is in most)
NFDUMP_LOCK = threading.Lock()


def nfdump_flows(pcap, tmp):
    """nfpcapd turns the capture into nfcapd files (its default 300 s active and 60 s
    inactive timeouts) and nfdump joins them: done before exflow starts, since it takes
    longer than exflow's idle exit."""
    with NFDUMP_LOCK:
        if pcap not in NFDUMP_CACHE:
            cap = tempfile.mkdtemp(dir=tmp)
            flows = cap + ".nf"   # one per capture: nfdump does not overwrite a file
            subprocess.run(["nfpcapd", "-r", pcap, "-w", cap], **QUIET)
            subprocess.run(["nfdump", "-R", cap, "-w", flows], **QUIET)
            shutil.rmtree(cap, ignore_errors=True)
            NFDUMP_CACHE[pcap] = flows
        return NFDUMP_CACHE[pcap]


def nfdump_replay(flows, port, version):
    """nfreplay sends the flows as NetFlow v5 or v9."""
    subprocess.run(["nfreplay", "-r", flows, "-H", "127.0.0.1", "-p", str(port), "-v", version], **QUIET)


def run_collect(exflow, row, mode, cache):
    """The scenario's runs, each an `exflow --collect` fed by softflowd one pcap after the
    other (baseline first); runs share a state file as in pcap mode. Returns the alerts."""
    runs = harness.scenario_runs(row)
    alerts, problems = [], []
    with tempfile.TemporaryDirectory(prefix="exflow-flow-eval-") as tmp:
        state = ["--state-file", os.path.join(tmp, "state")] if len(runs) > 1 else []
        for files, args in runs:
            flow_files = [nfdump_flows(pcap, cache) for pcap in files] if mode.startswith("nf") else []
            port = free_port()
            # Ended by SIGTERM once the exporters are done: exflow reads what is queued
            # first. The idle exit only guards against a replay that hangs.
            cmd = [exflow, "--collect", f"udp://127.0.0.1:{port}", "--collect-idle-exit", "60",
                   "--no-flows"] + args + state
            with open(os.path.join(tmp, "out"), "w+") as out, open(os.path.join(tmp, "err"), "w+") as err:
                ex = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
                if not wait_bound(port, ex):
                    ex.kill()
                    ex.wait()
                    err.seek(0)
                    problems.append("exflow did not listen: " + err.read().strip()[:200])
                    continue
                for flows in flow_files:
                    nfdump_replay(flows, port, MODES[mode][0])
                for pcap in files if not flow_files else []:
                    softflowd_replay(pcap, port, MODES[mode], tmp)
                ex.send_signal(signal.SIGTERM)
                try:
                    rc = ex.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    ex.kill()
                    rc = ex.wait()
                if rc != 0:
                    problems.append(f"exflow exit {rc}")
                out.seek(0)
                events = [harness.json.loads(line) for line in out if line.strip()]
                alerts += harness.alerts_of(events)
    return alerts, problems


def key(alert):
    return (alert.get("src_ip"), alert.get("group") or alert.get("dest_ip"))


def first_alerts(alerts):
    """The first alert of each (source, destination or group): what an analyst meets first."""
    seen = {}
    for a in alerts:
        if not harness.is_update(a):
            seen.setdefault(key(a), a)
    return seen


def label(k):
    return f"{k[0]}->{k[1]}"


def compare(pcap_alerts, flow_alerts, period_tolerance, allowlist=False):
    """(verdict, why): verdict is match, explained (only payload evidence differs) or differs."""
    want, got = first_alerts(pcap_alerts), first_alerts(flow_alerts)
    if not want and not got:
        return "match", "no alert either way"
    why, unexplained = [], False
    for k, w in want.items():
        ev = set(w.get("evidence", []))
        g = got.get(k)
        if g is None:
            payload = sorted(ev & PAYLOAD_EVIDENCE)
            if payload and not ev & FLOW_EVIDENCE - {"new_destination"}:
                why.append(f"{label(k)} missed: pcap alert rests on payload evidence {','.join(payload)}")
            elif payload:
                why.append(f"{label(k)} missed: without {','.join(payload)} "
                           f"({','.join(sorted(ev & FLOW_EVIDENCE))} scored under the threshold)")
            else:
                why.append(f"{label(k)} missed ({','.join(sorted(ev))})")
                unexplained = True
            continue
        diffs = []
        fw, fg = ev & FLOW_EVIDENCE, set(g.get("evidence", [])) & FLOW_EVIDENCE
        if fw != fg:
            diffs.append(f"evidence {','.join(sorted(fg)) or '-'} vs {','.join(sorted(fw)) or '-'}")
        if g.get("connections") != w.get("connections"):
            # The series grew or shrank before the first alert: records split or merged
            # differently (exporter timeouts against the packet path's active timeout).
            diffs.append(f"at connection {g.get('connections')} vs {w.get('connections')}")
        bw, bg = w.get("bytes_out", 0), g.get("bytes_out", 0)
        if bw and abs(bg - bw) > 0.03 * bw:
            diffs.append(f"bytes_out {bg} vs {bw}")
        if abs(g.get("pcr", 0) - w.get("pcr", 0)) > 0.02:
            diffs.append(f"pcr {g.get('pcr', 0):.3f} vs {w.get('pcr', 0):.3f}")
        if abs(g.get("period_sec", 0) - w.get("period_sec", 0)) > period_tolerance:
            diffs.append(f"period {g.get('period_sec', 0):.1f} vs {w.get('period_sec', 0):.1f}")
        if diffs:
            why.append(f"{label(k)}: " + "; ".join(diffs))
            unexplained = True
    for k, g in got.items():
        if k not in want:
            note = "; an allowlist entry by name cannot match a record without one" if allowlist else ""
            why.append(f"{label(k)} extra ({','.join(g.get('evidence', []))}){note}")
            unexplained = True
    if unexplained:
        return "differs", "; ".join(why)
    return ("explained" if why else "match"), "; ".join(why) or "same alerts"


def evaluate(exflow, row, modes, cache):
    pcap = harness.run_scenario(exflow, row)
    pcap_alerts = harness.alerts_of(pcap["events"])
    result = {"name": row["name"], "pcap": len(first_alerts(pcap_alerts)), "modes": {}}
    for mode in modes:
        alerts, problems = run_collect(exflow, row, mode, cache)
        # NetFlow v9 headers carry whole seconds: each start is good to a second.
        verdict, why = compare(pcap_alerts, alerts, 2.0 if mode == "v9" else 1.0,
                               "--allowlist" in row["args"])
        if problems:
            verdict, why = "differs", "; ".join(problems + [why])
        result["modes"][mode] = (len(first_alerts(alerts)), verdict, why)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--exflow", default=os.environ.get("EXFLOW", "./exflow"))
    ap.add_argument("--manifest", default=os.path.join(ROOT, "tests", "scenarios", "manifest.tsv"))
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--modes", default="v10,v9,nf9")
    args = ap.parse_args()
    if not shutil.which("softflowd") or not shutil.which("softflowctl"):
        print("flow input: softflowd missing (scripts/deps.sh --test): table skipped")
        return 0
    have_nfdump = all(shutil.which(t) for t in ("nfpcapd", "nfdump", "nfreplay"))
    modes = [m for m in args.modes.split(",") if m in MODES and (have_nfdump or not m.startswith("nf"))]
    if not have_nfdump:
        print("flow input: nfdump missing (scripts/deps.sh --test): its columns are left out")
    rows = harness.load_manifest(args.manifest)
    if args.names:
        rows = [r for r in rows if r["name"] in args.names]
    with tempfile.TemporaryDirectory(prefix="exflow-flow-eval-") as cache, \
            concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda r: evaluate(args.exflow, r, modes, cache), rows))
    print()
    print("Flow input: " + ", ".join(f"{m} = {MODE_NAMES[m]}" for m in modes) +
          " into exflow --collect, against exflow -r (first alert per source and destination)")
    hdr = f"{'case':24s} {'pcap':>4s} " + " ".join(f"{m:>4s} {'verdict':9s}" for m in modes) + "  why"
    print(hdr)
    print("-" * len(hdr))
    tally = {m: {"match": 0, "explained": 0, "differs": 0} for m in modes}
    for r in results:
        cells, whys = [], []
        for m in modes:
            n, verdict, why = r["modes"][m]
            tally[m][verdict] += 1
            cells.append(f"{n:>4d} {verdict:9s}")
            if why not in whys:
                whys.append(why)
        why = " | ".join(f"{m}: {r['modes'][m][2]}" for m in modes) if len(whys) > 1 else whys[0]
        print(f"{r['name']:24s} {r['pcap']:>4d} " + " ".join(cells) + "  " + why)
    print("-" * len(hdr))
    for m in modes:
        t = tally[m]
        print(f"{m}: {t['match']} match, {t['explained']} differ only by payload evidence, "
              f"{t['differs']} differ otherwise (of {len(results)})")
    print("match = same first alerts, same flow evidence, bytes_out within 3%, pcr within 0.02, period "
          "within 1 s (v9: 2 s, its times are whole seconds); explained = a pcap alert that needs payload evidence flow records cannot carry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
