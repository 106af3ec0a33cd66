#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A collector that accepts one TCP connection, never reads from it, then resets it.

usage: silent_collector.py PORT_FILE RESULT_FILE HOLD_SECONDS

The listening socket has a small receive buffer (inherited by the connection), so the
sender's kernel soon stops being acknowledged. After HOLD_SECONDS it counts what its own
kernel acknowledged but the program never read (FIONREAD, then MSG_PEEK to count the whole
RFC 6587 frames in it), writes "BYTES FRAMES" to RESULT_FILE and closes with SO_LINGER 0:
an RST, which discards that receive buffer, as a crashing collector does. Those frames are
lost; a sender that counted them as sent told the truth, everything after must not be lost.
"""
import fcntl
import re
import socket
import struct
import sys
import termios
import time

port_file, result_file, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
listener.bind(("127.0.0.1", 0))
listener.listen(1)
with open(port_file, "w") as f:
    f.write("%d\n" % listener.getsockname()[1])
listener.settimeout(30)
connection, _ = listener.accept()
listener.close()  # reconnects are refused: what was not acknowledged stays in the spool
time.sleep(hold)
queued = struct.unpack("i", fcntl.ioctl(connection, termios.FIONREAD, b"\0\0\0\0"))[0]
data = connection.recv(queued, socket.MSG_PEEK) if queued else b""
frames, at = 0, 0
while True:
    m = re.match(rb"([1-9][0-9]*) ", data[at:])
    if not m or at + len(m.group(0)) + int(m.group(1)) > len(data):
        break
    at += len(m.group(0)) + int(m.group(1))
    frames += 1
with open(result_file, "w") as f:
    f.write("%d %d\n" % (queued, frames))
connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
connection.close()
