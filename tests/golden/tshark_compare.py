#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compares exflow flow records with tshark's view of the same pcap.

For every conversation (addresses, transport protocol, ports) tshark sees, the packets and
wire bytes in each direction must equal the sum of exflow's flow records for that
conversation, and exflow must report no conversation tshark does not see. Only the outer IP
header is used, as exflow does not follow tunnels.
"""
import json
import subprocess
import sys
from collections import defaultdict

FIELDS = ["frame.len", "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst",
          "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "ip.flags.mf",
          "ip.frag_offset"]


def first(value):
    return value.split(",")[0] if value else ""


def tshark_conversations(pcap):
    cmd = ["tshark", "-n", "-r", pcap, "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    conv = defaultdict(lambda: [0, 0])   # (src, sport, dst, dport, proto) -> [pkts, bytes]
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        rec = dict(zip(FIELDS, cols))
        src = first(rec["ip.src"]) or first(rec["ipv6.src"])
        dst = first(rec["ip.dst"]) or first(rec["ipv6.dst"])
        if not src:
            continue
        if first(rec["ip.frag_offset"]) not in ("", "0"):
            continue  # non-first fragments: exflow counts them apart, not in flows
        # The first transport header after the outer IP; ICMP errors quote inner headers.
        proto = first(rec["ip.proto"])
        if rec["tcp.srcport"] and proto in ("", "6"):
            key = (src, int(first(rec["tcp.srcport"])), dst, int(first(rec["tcp.dstport"])), "TCP")
        elif rec["udp.srcport"] and proto in ("", "17"):
            key = (src, int(first(rec["udp.srcport"])), dst, int(first(rec["udp.dstport"])), "UDP")
        else:
            key = (src, 0, dst, 0, "other")
        conv[key][0] += 1
        conv[key][1] += int(rec["frame.len"])
    return conv


def exflow_conversations(jsonl):
    conv = defaultdict(lambda: [0, 0])
    with open(jsonl) as f:
        for line in f:
            ev = json.loads(line)
            # Burst records repeat counters the flow's next record holds (docs/events.md).
            if ev.get("event_type") != "flow" or ev.get("end_reason") == "burst":
                continue
            proto = ev["proto"] if ev["proto"] in ("TCP", "UDP") else "other"
            sport = ev.get("src_port", 0) if proto != "other" else 0
            dport = ev.get("dest_port", 0) if proto != "other" else 0
            fwd = (ev["src_ip"], sport, ev["dest_ip"], dport, proto)
            rev = (ev["dest_ip"], dport, ev["src_ip"], sport, proto)
            conv[fwd][0] += ev["pkts_toserver"]
            conv[fwd][1] += ev["bytes_toserver"]
            conv[rev][0] += ev["pkts_toclient"]
            conv[rev][1] += ev["bytes_toclient"]
    return {k: v for k, v in conv.items() if v[0] > 0}


def main():
    pcap, jsonl = sys.argv[1], sys.argv[2]
    want = tshark_conversations(pcap)
    got = exflow_conversations(jsonl)
    bad = 0
    for key in sorted(set(want) | set(got), key=str):
        if want.get(key) != got.get(key):
            print(f"mismatch {key}: tshark {want.get(key)} exflow {got.get(key)}")
            bad += 1
    print(f"{len(want)} directions compared, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
