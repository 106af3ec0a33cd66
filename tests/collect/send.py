#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sends hand-built exports to 127.0.0.1:PORT for tests/collect/run.sh: four IPFIX biflow
messages whose sequence numbers skip 4 records and then go back (an exporter restart), one
that redefines the template, one NetFlow v9 datagram, and four garbage datagrams. Every flow's times are in its record.
`send.py tcp PORT` sends IPFIX-over-TCP sessions instead (tcp_sessions)."""
import socket
import struct
import sys
import time

BASE_MS = 1773054000000  # 2026-03-09T11:00:00Z
PEN_REVERSE = 29305      # RFC 5103


def ipfix_template():
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    body = struct.pack(">HH", 300, len(fields) + 2)
    body += b"".join(struct.pack(">HH", i, n) for i, n in fields)
    body += struct.pack(">HHI", 0x8000 | 1, 8, PEN_REVERSE)   # reverseOctetDeltaCount
    body += struct.pack(">HHI", 0x8000 | 2, 8, PEN_REVERSE)   # reversePacketDeltaCount
    return struct.pack(">HH", 2, 4 + len(body)) + body


def ipfix_record(i):
    start = BASE_MS + 250 + i * 300000
    return (bytes([10, 20, 1, 5]) + bytes([45, 137, 21, 9]) + struct.pack(">HHB", 40000 + i, 443, 6)
            + struct.pack(">QQQQQQ", 100000, 100, start, start + 2000, 5000, 50))


def ipfix_message(seq, i, template=True):
    sets = ipfix_template() if template else b""
    data = ipfix_record(i)
    sets += struct.pack(">HH", 300, 4 + len(data)) + data
    return struct.pack(">HHIII", 10, 16 + len(sets), (BASE_MS // 1000) + 3600, seq, 1) + sets


def changed_template_message(seq):
    """Template 300 redefined mid-stream: destination first, then source. The record after
    it must be read with the new layout (a flow 10.20.1.5:40009 -> 45.137.21.9:443)."""
    fields = [(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    body = struct.pack(">HH", 300, len(fields) + 2)
    body += b"".join(struct.pack(">HH", i, n) for i, n in fields)
    body += struct.pack(">HHI", 0x8000 | 1, 8, PEN_REVERSE) + struct.pack(">HHI", 0x8000 | 2, 8, PEN_REVERSE)
    sets = struct.pack(">HH", 2, 4 + len(body)) + body
    start = BASE_MS + 250 + 9 * 300000
    data = (bytes([45, 137, 21, 9, 10, 20, 1, 5]) + struct.pack(">HHB", 443, 40009, 6)
            + struct.pack(">QQQQQQ", 100000, 100, start, start + 2000, 5000, 50))
    sets += struct.pack(">HH", 300, 4 + len(data)) + data
    return struct.pack(">HHIII", 10, 16 + len(sets), (BASE_MS // 1000) + 3600, seq, 1) + sets


def netflow9():
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4)]
    tmpl = struct.pack(">HH", 260, len(fields)) + b"".join(struct.pack(">HH", i, n) for i, n in fields)
    tset = struct.pack(">HH", 0, 4 + len(tmpl)) + tmpl
    rec = (bytes([10, 20, 1, 6, 45, 137, 21, 10]) + struct.pack(">HHB", 50000, 443, 6)
           + struct.pack(">IIII", 70000, 60, 50000, 60000))
    rec += b"\0" * 3                                           # FlowSet padding
    dset = struct.pack(">HH", 260, 4 + len(rec)) + rec
    header = struct.pack(">HHIIII", 9, 2, 100000, BASE_MS // 1000 + 2000, 0, 7)
    return header + tset + dset


def tcp_sessions(port):
    """IPFIX over TCP, four sessions: a message that arrives in two reads, data whose
    template was sent on the previous session only (templates end with their session), a
    stream that is not IPFIX at all (the collector closes it), and template withdrawals."""
    def session(*chunks):
        s = socket.create_connection(("127.0.0.1", port))
        for c in chunks:
            s.sendall(c)
            time.sleep(0.2)
        s.close()
    m = ipfix_message(0, 20)
    session(m[:30], m[30:])
    session(ipfix_message(1, 21, False))
    session(b"GET / HTTP/1.0\r\n\r\n")
    # RFC 7011 §8.1 withdrawals: template 300 withdrawn, then data for it (not read); defined
    # again and read (record 23); then all of the domain's withdrawn, and data (not read).
    def with_sets(seq, sets):
        return struct.pack(">HHIII", 10, 16 + len(sets), (BASE_MS // 1000) + 3600, seq, 1) + sets
    withdraw = struct.pack(">HHHH", 2, 8, 300, 0)
    withdraw_all = struct.pack(">HHHH", 2, 8, 2, 0)
    session(with_sets(0, ipfix_template()),
            with_sets(0, withdraw + ipfix_message(0, 22, False)[16:]),
            ipfix_message(0, 23),
            with_sets(1, withdraw_all + ipfix_message(0, 24, False)[16:]))


def template_flood(port):
    """One exporter defines 100 templates in one domain, then one of 600 fields: the first
    64 are kept, the other 37 refused with their messages. Then a record for the first
    template is still read, and a second exporter still has room of its own."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    def message(seq, sets):
        return struct.pack(">HHIII", 10, 16 + len(sets), (BASE_MS // 1000) + 3600, seq, 1) + sets
    for tid in range(300, 400):
        body = struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", i, n) for i, n in fields)
        s.sendto(message(0, struct.pack(">HH", 2, 4 + len(body)) + body), ("127.0.0.1", port))
    body = struct.pack(">HH", 299, 600) + struct.pack(">HH", 210, 4) * 600   # paddingOctets
    s.sendto(message(0, struct.pack(">HH", 2, 4 + len(body)) + body), ("127.0.0.1", port))
    data = ipfix_record(0)[:17] + struct.pack(">QQQQ", 100000, 100, BASE_MS, BASE_MS + 2000)
    s.sendto(message(0, struct.pack(">HH", 300, 4 + len(data)) + data), ("127.0.0.1", port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.sendto(ipfix_message(0, 1), ("127.0.0.1", port))


def main():
    if sys.argv[1] == "flood":
        template_flood(int(sys.argv[2]))
        return
    if sys.argv[1] == "tcp":
        tcp_sessions(int(sys.argv[2]))
        return
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    good = [ipfix_message(0, 0), ipfix_message(1, 1, False),
            ipfix_message(6, 2, False),   # 2..5 missing: 4 records lost
            ipfix_message(0, 3),          # back to 0: a restart
            changed_template_message(1),
            netflow9()]
    truncated = bytearray(ipfix_message(1, 4, False))
    struct.pack_into(">H", truncated, 18, 200)                # set longer than the message
    garbage = [b"\x13\x37" + b"A" * 38,                       # neither IPFIX nor NetFlow v9
               ipfix_message(1, 4)[:-5],                      # length field says more
               bytes(truncated),
               b"\x00\x0a\x00"]                               # shorter than any header
    for d in good + garbage:
        s.sendto(d, ("127.0.0.1", port))


if __name__ == "__main__":
    main()
