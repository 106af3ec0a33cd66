#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""readdress.py IN OUT OLD=NEW...: a copy of a classic pcap (Ethernet, IPv4) with IPv4
addresses swapped, header checksums fixed. Every record keeps its captured and wire lengths,
so a slim capture (payload cut, lengths kept) stays slim. Transport checksums are left as
they are: exflow does not check them, and a cut segment cannot be summed anyway.
Used to move a scenario's servers into the MaxMind test ranges (tests/cli/run.sh)."""

import ipaddress
import struct
import sys


def ip_checksum(header):
    s = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def readdress(frame, mapping):
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    frame = bytearray(frame)
    ihl = (frame[14] & 0x0F) * 4
    for off in (26, 30):
        frame[off:off + 4] = mapping.get(bytes(frame[off:off + 4]), bytes(frame[off:off + 4]))
    frame[24:26] = b"\0\0"
    frame[24:26] = struct.pack("!H", ip_checksum(bytes(frame[14:14 + ihl])))
    return bytes(frame)


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    mapping = {}
    for pair in argv[2:]:
        old, new = pair.split("=")
        mapping[ipaddress.IPv4Address(old).packed] = ipaddress.IPv4Address(new).packed
    with open(argv[0], "rb") as f:
        data = f.read()
    magic, = struct.unpack("<I", data[:4])
    if magic not in (0xA1B2C3D4, 0xA1B23C4D) or struct.unpack("<I", data[20:24])[0] != 1:
        raise SystemExit(f"{argv[0]}: not a little-endian Ethernet pcap")
    out, off = [data[:24]], 24
    while off + 16 <= len(data):
        ts, frac, caplen, wire = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        out.append(struct.pack("<IIII", ts, frac, caplen, wire) + readdress(frame, mapping))
        off += 16 + caplen
    with open(argv[1], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
