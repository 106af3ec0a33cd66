#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stub resolver for the covert-channel captures: answers every A query with 192.0.2.10 and
every other type with an empty NOERROR answer (python3 stdlib only).
Usage: dns_stub.py ADDRESS PORT"""
import socket
import struct
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    qtype = struct.unpack("!H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
    answers = b""
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 10])
    head = q[:2] + b"\x81\x80" + struct.pack("!HHHH", 1, 1 if answers else 0, 0, 0)
    s.sendto(head + question + answers, peer)
