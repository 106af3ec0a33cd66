#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds pcaps/demo/ (the README's `make demo`) from the committed scenario captures.

The scenarios use illustrative public addresses that MaxMind's test databases do not know;
the demo moves three servers onto addresses those databases do know, so the demo shows geo
enrichment (country, city, ASN) with the bundled geo/testdata files:
  mega.nz upload server      185.33.220.10 -> 81.2.69.142   (GB, London)
  SFTP server              176.124.192.18 -> 89.160.20.112  (SE, Linköping, AS29518)
  curl -F upload server     (its address) -> 216.160.83.56  (US, Milton, AS209)
and merges them with benign traffic (polling, a big download, browsing) in time order.
The demo reads pcaps/scenarios/baseline.pcap first, as the days before.
Run from the repository root: python3 tests/scenarios/make-demo.py
"""
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaprewrite as pr  # noqa: E402

SCEN = "pcaps/scenarios"
OUT = "pcaps/demo"
PIECES = ["tls_mega", "sftp_hourly", "curl_form_loop", "update_polling", "big_download", "browsing"]


def server_of(packets, linktype, client_prefix="10."):
    """The public address the scenario's internal clients talk to most."""
    counts = {}
    for _, frame in packets:
        ip = pr.ip_payload(linktype, frame)
        if ip is None:
            continue
        p = pr.Packet(ip)
        for a in (p.src, p.dst):
            text = str(ipaddress.IPv4Address(a))
            if not text.startswith(client_prefix):
                counts[text] = counts.get(text, 0) + 1
    return max(counts, key=counts.get)


def remap(packets, linktype, old, new):
    old_b, new_b = ipaddress.IPv4Address(old).packed, ipaddress.IPv4Address(new).packed
    out = []
    for ts, frame in packets:
        ip = pr.ip_payload(linktype, frame)
        if ip is None:
            out.append((ts, frame))
            continue
        head = frame[:len(frame) - len(ip)]
        p = pr.Packet(ip)
        src = new_b if p.src == old_b else p.src
        dst = new_b if p.dst == old_b else p.dst
        p.set_endpoints(src, dst, p.sport, p.dport)
        p.fix_checksums()
        out.append((ts, head + bytes(p.ip)))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    new_addresses = {"tls_mega": "81.2.69.142", "sftp_hourly": "89.160.20.112",
                     "curl_form_loop": "216.160.83.56"}
    lists = []
    for name in PIECES:
        linktype, packets = pr.read_pcap(f"{SCEN}/{name}.pcap")
        if name in new_addresses:
            old = server_of(packets, linktype)
            packets = remap(packets, linktype, old, new_addresses[name])
            print(f"{name}: {old} -> {new_addresses[name]}")
        lists.append(packets)
    pr.write_pcap(f"{OUT}/exfil.pcap", pr.merge(*lists))


if __name__ == "__main__":
    main()
