#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes a capture whose network-supplied text is hostile HTML: an hourly HTTP upload whose
Host and URL, and an hourly TLS upload whose SNI, hold <script> tags and both quote marks.

  hostile.py OUT.pcap

The report must show these as text. Built with tests/robustness/craft.py's packet helpers.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'robustness'))
import craft  # noqa: E402

HOST = 'up.example"\'<script>alert(1)</script>'
URL = '/u?a=<script>alert("url")</script>&b=\'q\''
SNI = 'x<script>alert("sni")</script>\'.example'
TS = 1700000000 * 1000000
PERIOD = 600 * 1000000
BODY = b'A' * 120000


def http_upload(frames, i):
    flow = craft.TcpFlow('10.0.0.5', 40000 + i, '81.2.69.144', 80, TS + i * PERIOD)
    flow.handshake()
    head = ('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n'
            'Content-Length: %d\r\n\r\n' % (URL, HOST, len(BODY))).encode()
    flow.send(0, head + BODY)
    flow.send(1, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    flow.close()
    frames.extend(flow.frames)


def tls_upload(frames, i):
    flow = craft.TcpFlow('10.0.0.6', 41000 + i, '81.2.69.143', 443, TS + i * PERIOD + 7000000)
    flow.handshake()
    flow.send(0, craft.client_hello(SNI))
    flow.send(1, b'\x16\x03\x03\x00\x04\x02\x00\x00\x00')
    record = b'\x17\x03\x03' + len(BODY[:16000]).to_bytes(2, 'big') + BODY[:16000]
    flow.send(0, record * 8)
    flow.close()
    frames.extend(flow.frames)


def main(argv):
    frames = []
    for i in range(6):
        http_upload(frames, i)
        tls_upload(frames, i)
    frames.sort(key=lambda f: f[0])
    craft.write_pcap(argv[1], frames)


if __name__ == '__main__':
    main(sys.argv)
