#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes classic pcap files to stdout as one stream, one file per part, pausing between
parts so a test can act (stop or start Redis) while exflow -r - is in the middle of a run.

  feed.py CTL_DIR PCAP1 PCAP2 ...
After part N is written and flushed it creates CTL_DIR/doneN; before part N+1 it waits for
CTL_DIR/goN+1 (at most 60 s); after the last it waits for CTL_DIR/end. All files must share one link type (the first header is kept).
"""
import os
import struct
import sys
import time


def read_pcap(path):
    """The file's 24-byte header and its packet records (16-byte header + data each)."""
    with open(path, "rb") as f:
        header = f.read(24)
        magic = struct.unpack("<I", header[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        packets = []
        while True:
            head = f.read(16)
            if len(head) < 16:
                return header, packets
            incl = struct.unpack(endian + "IIII", head)[2]
            packets.append(head + f.read(incl))


def wait_for(path):
    deadline = time.time() + 60
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)


def main():
    ctl, files = sys.argv[1], sys.argv[2:]
    out = sys.stdout.buffer
    wrote_header = False
    for n, path in enumerate(files, 1):
        if n > 1:
            wait_for(os.path.join(ctl, "go%d" % n))
        header, packets = read_pcap(path)
        if not wrote_header:
            out.write(header)
            wrote_header = True
        for data in packets:
            out.write(data)
        out.flush()
        open(os.path.join(ctl, "done%d" % n), "w").close()
    # The stream stays open (exflow keeps running) until the test says the run may end.
    wait_for(os.path.join(ctl, "end"))


if __name__ == "__main__":
    main()
