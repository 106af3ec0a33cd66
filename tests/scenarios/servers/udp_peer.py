#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A video-call-like balanced UDP flow: both sides send at the same rate.

  udp_peer.py server PORT                 echo-style peer: answers each datagram with one of equal size
  udp_peer.py client PORT SECONDS PPS SIZE
The client sends PPS datagrams a second of SIZE bytes (RTP-like header + random payload);
the server answers each with its own datagram of the same size, so bytes are balanced.
"""

import os
import socket
import struct
import sys
import time


def server(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    seq = 0
    while True:
        data, addr = s.recvfrom(65535)
        if data == b"BYE":
            break
        seq += 1
        hdr = struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, seq * 3000, 0x5EED0002)
        s.sendto(hdr + os.urandom(max(0, len(data) - len(hdr))), addr)


def client(port, seconds, pps, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    n = int(seconds * pps)
    t0 = time.monotonic()
    for i in range(n):
        hdr = struct.pack("!BBHII", 0x80, 96, i & 0xFFFF, i * 3000, 0x5EED0001)
        s.sendto(hdr + os.urandom(size - len(hdr)), ("127.0.0.1", port))
        try:
            s.recvfrom(65535)
        except socket.timeout:
            pass
        delay = t0 + (i + 1) / pps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    s.sendto(b"BYE", ("127.0.0.1", port))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
