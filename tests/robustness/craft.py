#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the hostile and broken captures tests/robustness/run.sh feeds to exflow.

  craft.py OUT_DIR GOLDEN_DIR [--flood N] [--churn N]

Every file is built here from struct packing (no scapy), so the bytes are exactly what the
name says. Addresses: 10.0.0.0/8 inside, 81.2.69.0/24 and 203.0.113.0/24 outside.
"""
import os
import struct
import sys

TS = 1700000000


def pcap_header(linktype=1, snaplen=262144):
    return struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(frame, ts_usec, caplen=None, wire=None):
    caplen = len(frame) if caplen is None else caplen
    wire = len(frame) if wire is None else wire
    return struct.pack('<IIII', ts_usec // 1000000, ts_usec % 1000000, caplen, wire) + frame


def write_pcap(path, frames, linktype=1, snaplen=262144):
    """frames: list of (ts_usec, frame)."""
    with open(path, 'wb') as f:
        f.write(pcap_header(linktype, snaplen))
        for ts, frame in frames:
            f.write(pcap_record(frame, ts))


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(src, dst):
    return bytes(map(int, src.split('.'))), bytes(map(int, dst.split('.')))


def ipv4_packet(src, dst, proto, l4, total=None, ihl=5, ident=1, frag=0, options=b''):
    s, d = ip4(src, dst)
    total = 20 + len(options) + len(l4) if total is None else total
    hdr = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, total & 0xffff, ident, frag, 64, proto, 0, s, d)
    hdr = hdr[:10] + struct.pack('!H', checksum(hdr + options)) + hdr[12:]
    return hdr + options + l4


def tcp_segment(sport, dport, seq, ack, flags, payload=b'', doff=5):
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, doff << 4, flags, 65535, 0, 0) + \
        b'\0' * max(0, (doff - 5) * 4 if doff <= 15 else 0) + payload


def udp_datagram(sport, dport, payload, length=None):
    length = 8 + len(payload) if length is None else length
    return struct.pack('!HHHH', sport, dport, length & 0xffff, 0) + payload


def ether(payload, ethertype=0x0800):
    return b'\x02\0\0\0\0\x01' + b'\x02\0\0\0\0\x02' + struct.pack('!H', ethertype) + payload


class TcpFlow:
    """A client/server TCP connection that yields Ethernet frames, MSS-sized segments."""

    def __init__(self, client, cport, server, sport, ts):
        self.c, self.cp, self.s, self.sp, self.ts = client, cport, server, sport, ts
        self.seq = [1000, 500000]
        self.frames = []

    def _emit(self, side, flags, payload=b''):
        src, dst = (self.c, self.s) if side == 0 else (self.s, self.c)
        sp, dp = (self.cp, self.sp) if side == 0 else (self.sp, self.cp)
        seg = tcp_segment(sp, dp, self.seq[side], self.seq[1 - side], flags, payload)
        self.frames.append((self.ts, ether(ipv4_packet(src, dst, 6, seg))))
        self.seq[side] += len(payload) + (1 if flags & 0x03 else 0)
        self.ts += 1000

    def handshake(self):
        self._emit(0, 0x02)
        self._emit(1, 0x12)
        self._emit(0, 0x10)

    def send(self, side, data, mss=1460):
        for i in range(0, len(data), mss):
            self._emit(side, 0x18, data[i:i + mss])
            self._emit(1 - side, 0x10)

    def close(self):
        self._emit(0, 0x11)
        self._emit(1, 0x11)
        self._emit(0, 0x10)


def client_hello(sni):
    """A TLS 1.2 ClientHello with one server_name; the handshake may exceed one record, so
    it is split over as many TLS records as needed (RFC 8446 section 5.1)."""
    name = sni.encode()
    sni_ext = struct.pack('!HBH', len(name) + 3, 0, len(name)) + name
    exts = struct.pack('!HH', 0, len(sni_ext)) + sni_ext
    body = b'\x03\x03' + b'\x11' * 32 + b'\x00' + struct.pack('!H', 2) + b'\x13\x01' + b'\x01\x00' + \
        struct.pack('!H', len(exts)) + exts
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    out = b''
    for i in range(0, len(hs), 16384):
        chunk = hs[i:i + 16384]
        out += b'\x16\x03\x01' + struct.pack('!H', len(chunk)) + chunk
    return out


def golden_records(path):
    data = open(path, 'rb').read()
    head, off, recs = data[:24], 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack('<I', data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + caplen])
        off += 16 + caplen
    return head, recs


def main(argv):
    out, golden = argv[1], argv[2]
    flood, churn = 30000, 1500
    if '--flood' in argv:
        flood = int(argv[argv.index('--flood') + 1])
    if '--churn' in argv:
        churn = int(argv[argv.index('--churn') + 1])
    os.makedirs(out, exist_ok=True)
    P = lambda n: os.path.join(out, n)

    # Truncations of a real capture: in a record header, and in a packet's bytes.
    head, recs = golden_records(os.path.join(golden, 'ftp.pcap'))
    open(P('trunc-record-header.pcap'), 'wb').write(head + b''.join(recs[:20]) + recs[20][:9])
    open(P('trunc-mid-packet.pcap'), 'wb').write(head + b''.join(recs[:20]) + recs[20][:16 + 30])

    # A small valid exchange to put around the hostile records.
    f = TcpFlow('10.0.0.5', 40000, '81.2.69.160', 443, TS * 1000000)
    f.handshake()
    f.send(0, b'x' * 200)
    good = f.frames
    with open(P('absurd-caplen.pcap'), 'wb') as o:
        o.write(pcap_header())
        for ts, fr in good[:3]:
            o.write(pcap_record(fr, ts))
        o.write(struct.pack('<IIII', TS, 0, 0x7fffffff, 0x7fffffff) + b'\0' * 64)
    with open(P('caplen-over-wire.pcap'), 'wb') as o:     # caplen > len: a capture that lies
        o.write(pcap_header())
        for ts, fr in good:
            o.write(pcap_record(fr, ts, wire=20))
    write_pcap(P('huge-snaplen.pcap'), good, snaplen=0xffffffff)
    write_pcap(P('linktype-147.pcap'), good, linktype=147)

    # pcapng, three interfaces of different link types: Ethernet, raw IP, USER0.
    def block(btype, body):
        body += b'\0' * (-len(body) % 4)
        return struct.pack('<II', btype, len(body) + 12) + body + struct.pack('<I', len(body) + 12)

    def epb(iface, ts, frame):
        return block(6, struct.pack('<IIIII', iface, ts >> 32, ts & 0xffffffff, len(frame), len(frame)) + frame)

    ng = block(0x0a0d0d0a, struct.pack('<IHHq', 0x1a2b3c4d, 1, 0, -1))
    for lt in (1, 101, 147):
        ng += block(1, struct.pack('<HHI', lt, 0, 262144))
    for i, (ts, fr) in enumerate(good):
        iface = i % 3
        frame = fr if iface == 0 else fr[14:]
        ng += epb(iface, ts, frame)
    open(P('multi-interface.pcapng'), 'wb').write(ng)
    # The same, but the second interface is described only after packets of the first
    # (pcapng allows IDBs anywhere): what came before it is read.
    ng = block(0x0a0d0d0a, struct.pack('<IHHq', 0x1a2b3c4d, 1, 0, -1)) + block(1, struct.pack('<HHI', 1, 0, 262144))
    for ts, fr in good:
        ng += epb(0, ts, fr)
    ng += block(1, struct.pack('<HHI', 101, 0, 262144)) + epb(1, good[0][0], good[0][1][14:])
    open(P('multi-interface-late.pcapng'), 'wb').write(ng)

    # Packets whose IP/TCP/UDP lengths lie; a valid flow around them shows the run goes on.
    t = TS * 1000000 + 10 ** 6
    tcp = tcp_segment(40001, 80, 1, 0, 0x02)
    lies = [
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp, total=1500),        # total > frame
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp, total=10),          # total < header
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp, ihl=3),             # IHL < 5
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp, ihl=15),            # options past the end
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp_segment(40001, 80, 1, 0, 2, doff=15)),  # TCP doff past end
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp_segment(40001, 80, 1, 0, 2, doff=2)),   # doff < 5
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp[:12]),                # TCP header cut
        ipv4_packet('10.0.0.6', '81.2.69.161', 17, udp_datagram(5000, 53, b'abc', length=4000)),  # UDP len > IP
        ipv4_packet('10.0.0.6', '81.2.69.161', 17, udp_datagram(5000, 53, b'abc', length=3)),     # UDP len < 8
        ipv4_packet('10.0.0.6', '81.2.69.161', 6, tcp, total=0),            # TSO: rest of frame
        b'\x45\x00',                                                        # IP header cut
        b'\x60\0\0\0\xff\xff\x06\x40' + b'\0' * 32 + tcp,                   # IPv6 payload len lies
        b'\x60\0\0\0\0\x30\x00\x40' + b'\0' * 32 + b'\x00\xff' + b'\0' * 6,  # hop-by-hop len past end
        b'\x70' + b'\0' * 40,                                               # IP version 7
    ]
    frames = [(t + i, ether(p, 0x86dd if p[0] >> 4 == 6 else 0x0800)) for i, p in enumerate(lies)]
    frames.append((t + 100, ether(b'')))                                    # Ethernet header only
    frames.append((t + 101, b'\x02\0\0'))                                   # shorter than Ethernet
    frames += [(t + 200 + i, fr) for i, (_, fr) in enumerate(good)]
    write_pcap(P('lying-lengths.pcap'), frames)

    # Fragments: overlapping, past 64 KiB, zero length, a first fragment too short for its
    # TCP header, IPv6 fragment headers of garbage, an atomic fragment.
    t = TS * 1000000 + 2 * 10 ** 6
    udp = udp_datagram(6000, 53, b'Q' * 64)
    frs = [
        ipv4_packet('10.0.0.7', '81.2.69.162', 17, udp[:24], ident=7, frag=0x2000),          # MF, off 0
        ipv4_packet('10.0.0.7', '81.2.69.162', 17, udp[8:40], ident=7, frag=0x2000 | 1),     # overlaps
        ipv4_packet('10.0.0.7', '81.2.69.162', 17, udp[16:], ident=7, frag=2),               # overlaps again
        ipv4_packet('10.0.0.7', '81.2.69.162', 17, b'Z' * 64, ident=7, frag=0x1fff),          # ends past 64 KiB
        ipv4_packet('10.0.0.7', '81.2.69.162', 17, b'', ident=8, frag=0x2000),                # empty first fragment
        ipv4_packet('10.0.0.7', '81.2.69.162', 6, tcp_segment(1, 2, 0, 0, 2)[:8], ident=9, frag=0x2000),  # TCP cut
        ipv4_packet('10.0.0.7', '81.2.69.162', 6, b'\xff' * 8, ident=9, frag=1),
        b'\x60\0\0\0\0\x10\x2c\x40' + b'\0' * 32 + b'\x11\x00\xff\xf9\xde\xad\xbe\xef' + b'\xff' * 8,  # frag hdr, offset garbage
        b'\x60\0\0\0\0\x04\x2c\x40' + b'\0' * 32 + b'\x11\x00\x00',                                  # frag hdr cut
        b'\x60\0\0\0\0\x18\x2c\x40' + b'\x20\x01\x0d\xb8' + b'\0' * 12 + b'\xfd' + b'\0' * 15 +
        b'\x11\x00\x00\x00\x00\x00\x00\x01' + udp_datagram(7000, 53, b'atomic!!'),                # atomic
    ]
    for k in range(200):                                                   # a flood of tiny fragments
        frs.append(ipv4_packet('10.0.0.7', '81.2.69.162', 17, b'F' * 8, ident=100 + k % 7, frag=0x2000 | (k * 37 % 8190)))
    frames = [(t + i, ether(p, 0x86dd if p[0] >> 4 == 6 else 0x0800)) for i, p in enumerate(frs)]
    frames += [(t + 1000 + i, fr) for i, (_, fr) in enumerate(good)]
    write_pcap(P('fragments.pcap'), frames)

    # A 64 KiB SNI over several TLS records and 45 TCP segments, and a 64 KiB HTTP Host.
    f = TcpFlow('10.0.0.8', 40100, '81.2.69.163', 443, TS * 1000000 + 3 * 10 ** 6)
    f.handshake()
    f.send(0, client_hello('a' * 65000 + '.example.com'))
    f.send(1, b'\x15\x03\x03\x00\x02\x02\x28')
    f.close()
    write_pcap(P('huge-sni.pcap'), f.frames)
    f = TcpFlow('10.0.0.8', 40101, '81.2.69.164', 80, TS * 1000000 + 4 * 10 ** 6)
    f.handshake()
    f.send(0, b'POST /u HTTP/1.1\r\nHost: ' + b'h' * 65500 + b'.example.com\r\nContent-Length: 5\r\n\r\nhello')
    f.send(1, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    f.close()
    write_pcap(P('huge-host.pcap'), f.frames)
    # Names longer than nDPI's buffer and exflow's FLOW_NAME_LEN, but in one record.
    f = TcpFlow('10.0.0.8', 40102, '81.2.69.163', 443, TS * 1000000 + 4 * 10 ** 6 + 5 * 10 ** 5)
    f.handshake()
    f.send(0, client_hello('s' * 1000 + '.example.com'))
    f.close()
    g = TcpFlow('10.0.0.8', 40103, '81.2.69.164', 80, f.ts)
    g.handshake()
    g.send(0, b'GET / HTTP/1.1\r\nHost: ' + b'h' * 1000 + b'.example.com\r\n\r\n')
    g.close()
    write_pcap(P('long-names.pcap'), f.frames + g.frames)

    # Packet time that jumps: backwards by a year, to the epoch, to 2106, microseconds past
    # a second; each "session" is an upload to one destination, so series, baselines and
    # schedules see starts out of order.
    times = [TS, TS + 3600, TS - 365 * 86400, 0, 0xffffffff, TS + 7200, TS + 10800, 1, TS + 14400]
    frames = []
    for k, sec in enumerate(times):
        f = TcpFlow('10.0.0.10', 41000 + k, '81.2.69.166', 443, sec * 1000000)
        f.handshake()
        f.send(0, bytes([k]) * 6000)
        f.close()
        frames += f.frames
    with open(P('time-travel.pcap'), 'wb') as o:
        o.write(pcap_header())
        for i, (ts, fr) in enumerate(frames):
            usec = 1999999 if i % 7 == 3 else ts % 1000000   # tv_usec beyond a second
            o.write(struct.pack('<IIII', (ts // 1000000) & 0xffffffff, usec, len(fr), len(fr)) + fr)

    # A flood of unique flows (one UDP packet each) from one host to one server.
    with open(P('flood.pcap'), 'wb') as o:
        o.write(pcap_header())
        t = TS * 1000000 + 5 * 10 ** 6
        for i in range(flood):
            p = ipv4_packet('10.0.0.9', '81.2.69.165', 17, udp_datagram(1024 + i % 60000, 1 + i // 60000, b'flood'))
            o.write(pcap_record(ether(p), t + i * 10))

    # State churn: many new destinations over hours of packet time, so the state file is
    # saved (every 5 min of packet time) again and again while the run goes on.
    with open(P('state-churn.pcap'), 'wb') as o:
        o.write(pcap_header())
        t = TS * 1000000 + 10 * 10 ** 6
        for i in range(churn):
            dst = '203.0.%d.%d' % (113 + i // 250 % 3, 1 + i % 250) if i < 750 else \
                '81.2.%d.%d' % (i // 250 % 250, 1 + i % 250)
            p = ipv4_packet('10.0.1.%d' % (1 + i % 200), dst, 17, udp_datagram(3000, 443, b'x' * 32))
            o.write(pcap_record(ether(p), t + i * 100 * 10 ** 6))   # 100 s apart


if __name__ == '__main__':
    main(sys.argv)
