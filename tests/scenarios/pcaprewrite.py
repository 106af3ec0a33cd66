#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""pcaprewrite.py: turn loopback captures into realistic-looking scenario captures.

Python 3 standard library only. Reads classic pcap (either byte order, micro- or
nanosecond timestamps; link types EN10MB, NULL/LOOP, RAW/IPV4, LINUX_SLL) holding IPv4
traffic captured on `lo`, where client and server are both 127.0.0.1, and

  * tells the two sides apart by port: an endpoint whose port is in --server-ports is
    the server, one whose port is in --client-ports (listening ports on the client, as
    in active-mode FTP) is the client, otherwise the side that sent the SYN is the client;
  * rewrites the client side to --client and the server side to --server, maps server
    ports (--port-map 2121:21,18443:443), recomputes IPv4, TCP and UDP checksums;
  * writes Ethernet frames with fixed, locally administered MAC addresses (client NIC and
    default gateway) instead of loopback's zero MACs;
  * moves the capture in time (--start EPOCH puts the first packet there, --shift SEC adds);
  * splits a capture at marker packets (UDP to --marker-port, dropped from the output), so
    one capture of N repetitions gives N pieces that can each be put at a scheduled time.

Used as a module by compose.py, or from the command line:

  pcaprewrite.py info FILE
  pcaprewrite.py rewrite IN -o OUT --client 10.20.1.5 --server 185.12.1.1 \
        --server-ports 18080 --port-map 18080:80 [--start EPOCH | --shift SEC]
  pcaprewrite.py split IN --marker-port 5999 -o PREFIX      (PREFIX-000.pcap, ...)
  pcaprewrite.py merge -o OUT IN...                          (time-ordered)
  pcaprewrite.py slim IN -o OUT          (bulk payload cut to headers, wire lengths kept)
"""

import argparse
import ipaddress
import struct
import sys

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_OLD = 12
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D

GATEWAY_MAC = bytes.fromhex("02000a0000fe")


class PcapError(Exception):
    pass


def read_pcap(path):
    """Returns (linktype, [(ts_usec, frame_bytes), ...])."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise PcapError(f"{path}: too short for a pcap header")
    magic_le = struct.unpack("<I", data[:4])[0]
    magic_be = struct.unpack(">I", data[:4])[0]
    if magic_le in (MAGIC_US, MAGIC_NS):
        endian, magic = "<", magic_le
    elif magic_be in (MAGIC_US, MAGIC_NS):
        endian, magic = ">", magic_be
    else:
        raise PcapError(f"{path}: not a classic pcap file (pcapng? convert with editcap -F pcap)")
    nano = magic == MAGIC_NS
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    packets = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            break  # truncated last record: keep what is whole
        usec = frac // 1000 if nano else frac
        packets.append((sec * 1_000_000 + usec, data[off:off + incl]))
        off += incl
    return linktype, packets


def write_pcap(path, packets, linktype=LINKTYPE_EN10MB, snaplen=262144):
    """packets: (ts_usec, frame) or (ts_usec, captured_bytes, wire_length) as slim() returns.
    A file with cut packets records as its snap length the longest packet it holds whole, so
    the header never claims more capture than the file has."""
    if any(len(p) == 3 and len(p[1]) < p[2] for p in packets):
        snaplen = max(len(p[1]) for p in packets)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for p in packets:
            ts, frame = p[0], p[1]
            wire = p[2] if len(p) == 3 else len(frame)
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), wire))
            f.write(frame)


SLIM_KEEP_FIRST = 4      # payload packets kept whole at the start of each flow direction
SLIM_KEEP_PER_TURN = 2   # ... and at the start of each turn (the other side spoke in between)
SLIM_KEEP_SMALL = 256    # payload bytes up to which a packet is always kept whole (cheap)
SLIM_KEEP_BYTES = 2048   # payload bytes kept of a flow's first packets: hellos and headers fit,
                         # and an offloaded 64 KB segment does not cost 64 KB of random body
SLIM_KEEP_TURN_BYTES = 1024  # ... of a turn's first packets: a request line and headers


def _l4_layout(ip):
    """(flow key, header bytes up to the payload, payload bytes) of an IPv4 TCP/UDP packet."""
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0] or len(ip)
    proto = ip[9]
    if proto == 6 and len(ip) >= ihl + 20:
        l4 = (ip[ihl + 12] >> 4) * 4
    elif proto == 17 and len(ip) >= ihl + 8:
        l4 = 8
    else:
        return None
    key = (proto, bytes(ip[12:16]), bytes(ip[16:20]), bytes(ip[ihl:ihl + 4]))
    return key, ihl + l4, max(0, total - ihl - l4)


def slim(packets, keep_first=SLIM_KEEP_FIRST, keep_per_turn=SLIM_KEEP_PER_TURN, keep_small=SLIM_KEEP_SMALL,
         keep_bytes=SLIM_KEEP_BYTES, keep_turn_bytes=SLIM_KEEP_TURN_BYTES):
    """Cuts bulk payload to its headers, keeping the original length: [(ts, frame)] ->
    [(ts, captured, wire_length)]. exflow (like any flow meter) counts bytes from the IP total
    length, so a cut packet counts the same; what protocol analysis needs stays whole: the first
    payload packets of each flow direction (handshakes, TLS hellos, HTTP request headers, the
    first body bytes with their archive magic) and the first packets of every turn (each request
    on a keep-alive connection, each answer; TCP only, since datagrams of a call alternate all
    the time), up to keep_bytes and keep_turn_bytes of payload. Checksums stay those of the whole packet, so
    run this after rewrite()."""
    seen = {}        # direction key -> payload packets so far
    turn = {}        # direction key -> payload packets since the other direction last spoke
    out = []
    for ts, frame in packets:
        ip = ip_payload(LINKTYPE_EN10MB, frame)
        lay = _l4_layout(ip) if ip is not None else None
        if lay is None or lay[2] <= keep_small:
            if lay is not None and lay[2]:
                key = lay[0]
                seen[key] = seen.get(key, 0) + 1
                turn[key] = turn.get(key, 0) + 1
                turn[_reverse(key)] = 0
            out.append((ts, frame, len(frame)))
            continue
        key, head, _payload = lay
        seen[key] = seen.get(key, 0) + 1
        turn[key] = turn.get(key, 0) + 1
        turn[_reverse(key)] = 0
        cut = len(frame) - len(ip) + head
        if seen[key] <= keep_first:
            cut += keep_bytes
        elif key[0] == 6 and turn[key] <= keep_per_turn:
            cut += keep_turn_bytes
        out.append((ts, frame[:cut], len(frame)))
    return out


def _reverse(key):
    proto, src, dst, ports = key
    return (proto, dst, src, ports[2:4] + ports[0:2])


def ip_payload(linktype, frame):
    """The IPv4 packet inside a frame, or None (IPv6, ARP, anything else)."""
    if linktype == LINKTYPE_EN10MB:
        if len(frame) < 14:
            return None
        etype = struct.unpack("!H", frame[12:14])[0]
        off = 14
        while etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
            etype = struct.unpack("!H", frame[off + 2:off + 4])[0]
            off += 4
        return frame[off:] if etype == 0x0800 else None
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 4:
            return None
        fam_le = struct.unpack("<I", frame[:4])[0]
        fam_be = struct.unpack(">I", frame[:4])[0]
        return frame[4:] if 2 in (fam_le, fam_be) else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_IPV4):
        return frame if frame and frame[0] >> 4 == 4 else None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return frame[16:] if struct.unpack("!H", frame[14:16])[0] == 0x0800 else None
    raise PcapError(f"unsupported link type {linktype}")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Packet:
    """A parsed IPv4 packet with TCP or UDP (other protocols keep addresses only)."""

    def __init__(self, ip):
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        self.ip = bytearray(ip[:max(total, ihl)] if total else ip)
        self.ihl = ihl
        self.proto = ip[9]
        self.src = bytes(ip[12:16])
        self.dst = bytes(ip[16:20])
        self.sport = self.dport = None
        self.flags = 0
        if self.proto in (6, 17) and len(self.ip) >= ihl + 8:
            self.sport, self.dport = struct.unpack("!HH", self.ip[ihl:ihl + 4])
            if self.proto == 6 and len(self.ip) >= ihl + 14:
                self.flags = self.ip[ihl + 13]

    @property
    def syn_only(self):
        return self.proto == 6 and (self.flags & 0x12) == 0x02

    def set_endpoints(self, src, dst, sport, dport):
        self.ip[12:16] = src
        self.ip[16:20] = dst
        if self.sport is not None:
            struct.pack_into("!HH", self.ip, self.ihl, sport, dport)
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport

    def fix_checksums(self):
        ihl = self.ihl
        self.ip[10:12] = b"\0\0"
        self.ip[10:12] = struct.pack("!H", checksum(bytes(self.ip[:ihl])))
        frag = struct.unpack("!H", self.ip[6:8])[0]
        if frag & 0x3FFF:
            return  # fragments: leave the L4 checksum alone
        seg = self.ip[ihl:]
        pseudo = self.src + self.dst + struct.pack("!BBH", 0, self.proto, len(seg))
        if self.proto == 6 and len(seg) >= 20:
            seg[16:18] = b"\0\0"
            seg[16:18] = struct.pack("!H", checksum(pseudo + bytes(seg)))
        elif self.proto == 17 and len(seg) >= 8:
            seg[6:8] = b"\0\0"
            c = checksum(pseudo + bytes(seg))
            seg[6:8] = struct.pack("!H", c or 0xFFFF)
        self.ip[ihl:] = seg


def parse_ports(spec):
    """'2121,30000-30009' -> set of ints."""
    out = set()
    for part in str(spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def parse_port_map(spec):
    out = {}
    for part in str(spec or "").split(","):
        part = part.strip()
        if part:
            a, b = part.split(":")
            out[int(a)] = int(b)
    return out


def split_at_markers(packets, linktype, marker_port):
    """Pieces of the capture between marker packets (UDP to marker_port), markers dropped."""
    pieces, cur = [], []
    for ts, frame in packets:
        ip = ip_payload(linktype, frame)
        if ip is not None:
            p = Packet(ip)
            if p.proto == 17 and p.dport == marker_port:
                if cur:
                    pieces.append(cur)
                cur = []
                continue
            if p.proto == 1 and len(ip) >= p.ihl + 8 + 28:
                # ICMP port unreachable for a marker: drop it too
                inner = ip[p.ihl + 8:]
                if inner[9] == 17 and struct.unpack("!H", inner[(inner[0] & 15) * 4 + 2:][:2])[0] == marker_port:
                    continue
        cur.append((ts, frame))
    if cur:
        pieces.append(cur)
    return pieces


def rewrite(packets, linktype, client, server, server_ports=(), client_ports=(), port_map=None,
            start=None, shift=0, client_port_offset=0, stretch=1.0):
    """Rewrites one piece. client/server: dotted quads. Returns [(ts, ethernet_frame)].

    start: epoch seconds (float) for the first packet; else shift seconds are added.
    stretch: multiplies the time between packets inside the piece (loopback answers in
    microseconds; a stretch of 20-50 gives WAN-like durations without changing the order).
    client_port_offset: added to the client's ephemeral ports (so pieces captured at
    different times do not reuse the same client port when merged close together)."""
    client_b = ipaddress.IPv4Address(client).packed
    server_b = ipaddress.IPv4Address(server).packed
    # MACs: 02:00 + the IPv4 address (locally administered); a public server is reached
    # through the default gateway, so its frames carry the gateway's MAC.
    client_mac = b"\x02\x00" + client_b
    gateway_mac = b"\x02\x00" + server_b if ipaddress.IPv4Address(server).is_private else GATEWAY_MAC
    server_ports = set(server_ports)
    client_ports = set(client_ports)
    port_map = port_map or {}
    if not packets:
        return []
    delta = int(round(start * 1_000_000)) - packets[0][0] if start is not None else int(round(shift * 1_000_000))

    # The initiator of each TCP connection, from its SYN.
    initiator = {}
    parsed = []
    for ts, frame in packets:
        ip = ip_payload(linktype, frame)
        if ip is None or len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        p = Packet(ip)
        parsed.append((ts, p))
        if p.syn_only:
            key = frozenset([(p.sport, p.src), (p.dport, p.dst)])
            initiator.setdefault(key, (p.src, p.sport))

    def client_port(port):
        if port in client_ports or port < 1024 or client_port_offset == 0:
            return port
        return 1024 + (port - 1024 + client_port_offset) % (65536 - 1024)

    out = []
    for ts, p in parsed:
        if p.sport is None:
            # ICMP and others: nothing to tell sides apart; keep src as client
            src_is_server = False
        elif p.sport in server_ports or p.dport in client_ports:
            src_is_server = True
        elif p.dport in server_ports or p.sport in client_ports:
            src_is_server = False
        else:
            init = initiator.get(frozenset([(p.sport, p.src), (p.dport, p.dst)]))
            src_is_server = init is not None and init[1] != p.sport
        if src_is_server:
            sp = port_map.get(p.sport, p.sport)
            dp = client_port(p.dport) if p.dport is not None else None
            p.set_endpoints(server_b, client_b, sp, dp)
            eth = client_mac + gateway_mac
        else:
            sp = client_port(p.sport) if p.sport is not None else None
            dp = port_map.get(p.dport, p.dport)
            p.set_endpoints(client_b, server_b, sp, dp)
            eth = gateway_mac + client_mac
        p.fix_checksums()
        t = packets[0][0] + int((ts - packets[0][0]) * stretch)
        out.append((t + delta, eth + b"\x08\x00" + bytes(p.ip)))
    return out


def merge(*packet_lists):
    allp = [pkt for lst in packet_lists for pkt in lst]
    allp.sort(key=lambda x: x[0])  # stable: keeps order within equal timestamps
    return allp


def info(path):
    lt, pk = read_pcap(path)
    if not pk:
        return f"{path}: linktype {lt}, 0 packets"
    dur = (pk[-1][0] - pk[0][0]) / 1e6
    size = sum(len(f) for _, f in pk)
    return f"{path}: linktype {lt}, {len(pk)} packets, {size} bytes, {dur:.3f} s, first {pk[0][0] / 1e6:.6f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("info")
    a.add_argument("files", nargs="+")
    a = sub.add_parser("rewrite")
    a.add_argument("input")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--client", required=True)
    a.add_argument("--server", required=True)
    a.add_argument("--server-ports", default="")
    a.add_argument("--client-ports", default="")
    a.add_argument("--port-map", default="")
    g = a.add_mutually_exclusive_group()
    g.add_argument("--start", type=float)
    g.add_argument("--shift", type=float, default=0.0)
    a = sub.add_parser("split")
    a.add_argument("input")
    a.add_argument("--marker-port", type=int, default=5999)
    a.add_argument("-o", "--prefix", required=True)
    a = sub.add_parser("merge")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("inputs", nargs="+")
    a = sub.add_parser("slim")
    a.add_argument("input")
    a.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "info":
            for f in args.files:
                print(info(f))
        elif args.cmd == "rewrite":
            lt, pk = read_pcap(args.input)
            out = rewrite(pk, lt, args.client, args.server, parse_ports(args.server_ports),
                          parse_ports(args.client_ports), parse_port_map(args.port_map),
                          start=args.start, shift=args.shift)
            write_pcap(args.output, out)
        elif args.cmd == "split":
            lt, pk = read_pcap(args.input)
            for i, piece in enumerate(split_at_markers(pk, lt, args.marker_port)):
                write_pcap(f"{args.prefix}-{i:03d}.pcap", piece, lt)
                print(f"{args.prefix}-{i:03d}.pcap")
        elif args.cmd == "merge":
            lists = []
            for f in args.inputs:
                lt, pk = read_pcap(f)
                if lt != LINKTYPE_EN10MB:
                    raise PcapError(f"{f}: merge wants Ethernet captures (rewrite first)")
                lists.append(pk)
            write_pcap(args.output, merge(*lists))
        elif args.cmd == "slim":
            lt, pk = read_pcap(args.input)
            if lt != LINKTYPE_EN10MB:
                raise PcapError(f"{args.input}: slim wants an Ethernet capture (rewrite first)")
            write_pcap(args.output, slim(pk))
    except (PcapError, OSError, ValueError) as e:
        print(f"pcaprewrite: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
