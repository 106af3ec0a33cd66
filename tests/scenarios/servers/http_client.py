#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Uploads over ONE keep-alive HTTP/1.1 connection (plain or TLS), as a long-lived agent does.

  http_client.py HOST PORT --host NAME [--tls] COUNT MIN_BYTES MAX_BYTES SEED [--json] [--path P]

Connects once to HOST:PORT (Host header and TLS SNI: NAME) and POSTs COUNT bodies on that
connection. Before each POST a marker datagram goes to 127.0.0.1:5999, so compose.py can place
every request at its own scheduled time while the connection stays the same. Bodies are seeded
random bytes (application/octet-stream) or, with --json, log-like JSON lines (a log shipper).
"""

import argparse
import http.client
import json
import random
import socket
import ssl
import time


def body(rnd, size, as_json):
    if not as_json:
        return rnd.randbytes(size), "application/octet-stream"
    lines = []
    n = 0
    while n < size:
        rec = json.dumps({"ts": "2026-03-09T10:%02d:%02dZ" % (rnd.randrange(60), rnd.randrange(60)),
                          "host": "ws-%03d" % rnd.randrange(200), "level": rnd.choice(["info", "warn", "debug"]),
                          "msg": rnd.choice(["user login", "service started", "disk 71% used", "job finished",
                                             "connection reset by peer", "cache refreshed"]),
                          "pid": rnd.randrange(100, 40000)})
        lines.append(rec)
        n += len(rec) + 1
    return ("\n".join(lines) + "\n").encode(), "application/x-ndjson"


def connect(a):
    if not a.tls:
        return http.client.HTTPConnection(a.addr, a.port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(a.addr, a.port, context=ctx)
    # SNI and Host are the service's name; the TCP peer is the local test server.
    conn.sock = ctx.wrap_socket(socket.create_connection((a.addr, a.port)), server_hostname=a.host)
    return conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("--host", required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--path", default="/upload")
    ap.add_argument("count", type=int)
    ap.add_argument("min_bytes", type=int)
    ap.add_argument("max_bytes", type=int)
    ap.add_argument("seed", type=int)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    conn = None
    for i in range(a.count):
        marker.sendto(b"rep", ("127.0.0.1", 5999))
        time.sleep(0.3)
        if conn is None:  # after the first marker: the handshake belongs to the first request
            conn = connect(a)
        data, ctype = body(rnd, rnd.randint(a.min_bytes, a.max_bytes), a.json)
        conn.putrequest("POST", a.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", a.host)
        conn.putheader("User-Agent", "agent/2.4 (linux)" if not a.json else "fluent-bit/2.0.9")
        conn.putheader("Content-Type", ctype)
        conn.putheader("Content-Length", str(len(data)))
        conn.putheader("Connection", "keep-alive")
        conn.endheaders(data)
        conn.getresponse().read()
    conn.close()


if __name__ == "__main__":
    main()
