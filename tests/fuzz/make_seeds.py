#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Builds seed corpora for the libFuzzer harnesses from real captures and files.

  make_seeds.py OUT_DIR PCAP_DIR... [--state FILE...] [--max-files N]

Writes OUT_DIR/corpus-<harness>/ for decode, flows, detect_parsers (from the captures),
allowlist (detect/allowlist.example, line by line too) and state (the --state files, which
exflow wrote). Frame formats are the ones each harness's header comment describes.
"""
import hashlib
import os
import struct
import sys

# fuzz_decode.c's list: the first input byte indexes it.
DECODE_LINKTYPES = [1, 113, 276, 12, 14, 101, 228, 229, 0, 108, 9, 50, 104]
MAX_FRAMES_PER_FILE = 6        # decode seeds per capture
MAX_PACKETS_PER_SEED = 48      # flows seeds: the first packets of a capture
RECORD_MAX = 16383


def read_capture(path):
    """Yields (linktype, frame) from a pcap or pcapng file; stops quietly at damage."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1', b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '<' if magic[0] in (0xd4, 0x4d) else '>'
        linktype = struct.unpack(e + 'I', data[20:24])[0] & 0x0fffffff
        off = 24
        while off + 16 <= len(data):
            caplen = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
            if caplen > 262144 or off + 16 + caplen > len(data):
                return
            yield linktype, data[off + 16:off + 16 + caplen]
            off += 16 + caplen
    elif magic == b'\x0a\x0d\x0d\x0a':
        off = 0
        e = '<'
        links = []
        while off + 12 <= len(data):
            btype = struct.unpack(e + 'I', data[off:off + 4])[0]
            if btype == 0x0a0d0d0a:
                e = '<' if data[off + 8:off + 12] == b'\x4d\x3c\x2b\x1a' else '>'
                links = []
            blen = struct.unpack(e + 'I', data[off + 4:off + 8])[0]
            if blen < 12 or off + blen > len(data):
                return
            body = data[off + 8:off + blen - 4]
            if btype == 1 and len(body) >= 2:
                links.append(struct.unpack(e + 'H', body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, caplen = struct.unpack(e + 'IIII', body[:16])
                if iface < len(links):
                    yield links[iface], body[20:20 + caplen]
            elif btype == 3 and len(body) >= 4 and links:
                yield links[0], body[4:]
            off += blen


def ip_packet(linktype, frame):
    """The IP packet inside a frame of the common link types, or None."""
    off = None
    if linktype == 1:
        off, ethertype = 12, None
        while off + 2 <= len(frame):
            ethertype = struct.unpack('>H', frame[off:off + 2])[0]
            if ethertype in (0x8100, 0x88a8, 0x9100):
                off += 4
                continue
            off += 2
            break
        if ethertype not in (0x0800, 0x86dd):
            return None
    elif linktype == 113:
        off = 16
    elif linktype == 276:
        off = 20
    elif linktype in (12, 14, 101, 228, 229):
        off = 0
    elif linktype in (0, 108):
        off = 4
    if off is None or off >= len(frame) or frame[off] >> 4 not in (4, 6):
        return None
    return frame[off:]


def tcp_payload(ip):
    """(sport, dport, payload) of a TCP/IPv4 or TCP/IPv6 packet, or None."""
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        if len(ip) < ihl + 20 or ip[9] != 6:
            return None
        total = struct.unpack('>H', ip[2:4])[0] or len(ip)
        l4 = ip[ihl:total]
    else:
        if len(ip) < 60 or ip[6] != 6:
            return None
        l4 = ip[40:40 + struct.unpack('>H', ip[4:6])[0]]
    if len(l4) < 20:
        return None
    sport, dport = struct.unpack('>HH', l4[:4])
    return sport, dport, l4[(l4[12] >> 4) * 4:]


def record(control, payload):
    payload = payload[:RECORD_MAX]
    return bytes([control]) + struct.pack('<H', len(payload)) + payload


def save(directory, blob):
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(blob).hexdigest()[:16]
    with open(os.path.join(directory, name), 'wb') as f:
        f.write(blob)


def capture_files(roots, max_files):
    found = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for n in sorted(names):
                if n.endswith(('.pcap', '.pcapng', '.cap')):
                    found.append(os.path.join(dirpath, n))
    found.sort()
    return found[:max_files]


def handmade_detect_seeds():
    """Sessions a fuzzer would not find alone: FTP passive and active uploads, HTTP bodies."""
    ftp_client, ftp_server, data = 0x00, 0x04, 0x02   # connection 0 both ways; connection 2
    passive = b''.join([
        record(ftp_server, b'220 ready\r\n'),
        record(ftp_client, b'USER x\r\n'), record(ftp_server, b'331 pw\r\n'),
        record(ftp_client, b'PASS y\r\n'), record(ftp_server, b'230 ok\r\n'),
        record(ftp_client, b'PASV\r\n'),
        record(ftp_server, b'227 Entering Passive Mode (81,2,69,160,195,80)\r\n'),
        record(ftp_client, b'STOR secrets.tar\r\n'),
        record(data | 0x20, b'\xc3\x50'),                 # SYN to port 50000
        record(data, b'\xc3\x50' + b'A' * 3000),
        record(data | 0x80, b'\xc3\x50'),                 # FIN
        record(ftp_server, b'226 done\r\n'),
        record(ftp_client, b'EPSV\r\n'),
        record(ftp_server, b'229 Entering Extended Passive Mode (|||50001|)\r\n'),
        record(ftp_client, b'APPE log.txt\r\n'),
        record(data, b'\xc3\x51' + b'B' * 2000),
    ])
    active = b''.join([
        record(ftp_client, b'PORT 10,0,0,1,156,64\r\n'), record(ftp_server, b'200 ok\r\n'),
        record(ftp_client, b'STOR a\r\n'),
        record(data | 0x04 | 0x20, b'\x9c\x40'),         # server opens to the client's port
        record(data, b'\x9c\x40' + b'C' * 1500),
        record(ftp_client | 0x08, b'EPRT |2|fd00::1|40001|\r\n'),
    ])
    http = b''.join([
        record(0x01, b'POST /upload HTTP/1.1\r\nHost: files.example-drop.net:8080\r\n'
                     b'Content-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n0123456789'
                     b'PUT /x HTTP/1.1\r\nHost: 203.0.113.9\r\nTransfer-Encoding: chunked\r\n\r\n'),
        record(0x01, b'5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n'),
        record(0x05, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
        record(0x03, b'BITS_POST /bits HTTP/1.1\r\nHost: up.example.com\r\nContent-Length: 4\r\n\r\nabcd'),
    ])
    return [passive, active, http]


def main(argv):
    out = argv[1]
    roots, states, max_files = [], [], 400
    args = iter(argv[2:])
    for a in args:
        if a == '--state':
            states.append(next(args))
        elif a == '--max-files':
            max_files = int(next(args))
        else:
            roots.append(a)
    counts = {}
    for path in capture_files(roots, max_files):
        try:
            frames = []
            for i, (lt, frame) in enumerate(read_capture(path)):
                frames.append((lt, frame))
                if i >= 400:
                    break
        except (struct.error, IndexError, OSError):
            continue
        # decode: a few frames of every capture whose link type the harness knows.
        for lt, frame in frames[:MAX_FRAMES_PER_FILE]:
            if lt in DECODE_LINKTYPES:
                save(os.path.join(out, 'corpus-decode'), bytes([DECODE_LINKTYPES.index(lt), 0]) + frame)
                counts['decode'] = counts.get('decode', 0) + 1
        # flows: the capture's first packets as raw IP records.
        ips = [ip for ip in (ip_packet(lt, fr) for lt, fr in frames) if ip]
        if ips:
            blob = bytes([1]) + b''.join(record(0x10, ip) for ip in ips[:MAX_PACKETS_PER_SEED])
            save(os.path.join(out, 'corpus-flows'), blob)
            counts['flows'] = counts.get('flows', 0) + 1
        # detect_parsers: FTP control and HTTP client payloads, rebuilt on the harness's
        # connections (0: FTP, 1: HTTP).
        parsed = []
        for ip in ips:
            t = tcp_payload(ip)
            if not t or not t[2]:
                continue
            sport, dport, payload = t
            if 21 in (sport, dport):
                parsed.append(record(0x00 if dport == 21 else 0x04, payload))
            elif dport in (80, 8080) or payload[:5] in (b'POST ', b'PUT /', b'GET /'):
                parsed.append(record(0x01, payload))
        if parsed:
            save(os.path.join(out, 'corpus-detect_parsers'), b''.join(parsed[:64]))
            counts['detect_parsers'] = counts.get('detect_parsers', 0) + 1
    for blob in handmade_detect_seeds():
        save(os.path.join(out, 'corpus-detect_parsers'), blob)
    example = os.path.join(os.path.dirname(__file__), '..', '..', 'detect', 'allowlist.example')
    if os.path.exists(example):
        text = open(example, 'rb').read()
        save(os.path.join(out, 'corpus-allowlist'), text)
        # The example's rules are commented out: the seeds are the rules themselves.
        rules = [line[1:] for line in text.splitlines() if line.startswith(b'#') and b'=' in line[:12]]
        save(os.path.join(out, 'corpus-allowlist'), b'\n'.join(rules) + b'\n')
        for line in rules:
            save(os.path.join(out, 'corpus-allowlist'), line + b'\n')
        save(os.path.join(out, 'corpus-allowlist'),
             b'src=2001:db8::/32,10.0.0.1 dest=0.0.0.0/0 proto=TLS,ssh port=1,65535\r\n'
             b'dest_domain=*.a.b,c app=x # \xff\xfe\n\n   \t#only comment\n')
    for s in states:
        save(os.path.join(out, 'corpus-state'), open(s, 'rb').read())
    print('seeds: ' + ', '.join('%s=%d' % kv for kv in sorted(counts.items())))


if __name__ == '__main__':
    main(sys.argv)
