#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small HTTP/HTTPS server for the scenario captures (Python standard library only).

Accepts what the upload tools send and answers like a real service would:
  POST / PUT             read the body (Content-Length or chunked), answer 200/201 with a short body
  BITS_POST              the BITS upload protocol: Ping, Create-Session, Fragment, Close-Session
  GET /bytes/N           N bytes of pseudo-random data (downloads)
  GET /page/N            an HTML page of about N bytes (browsing)
  GET /poll              a small JSON "no update" answer (update checks)
  GET anything else      a short HTML page

Usage: http_server.py PORT [--tls CERT KEY]     (binds 127.0.0.1 only)
"""

import http.server
import random
import socketserver
import ssl
import sys
import uuid


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return bytes(data)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reply(self, code, body=b"", ctype="text/html; charset=utf-8", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        if self.headers.get("Expect", "").lower() == "100-continue":
            pass  # BaseHTTPRequestHandler already sent 100 Continue
        body = self._body()
        self._reply(200, b'{"status":"ok","received":%d}\n' % len(body), "application/json")

    def do_PUT(self):
        body = self._body()
        self._reply(201, b'{"status":"created","size":%d}\n' % len(body), "application/json")

    def do_BITS_POST(self):
        self._body()
        kind = self.headers.get("BITS-Packet-Type", "").lower()
        extra = {"BITS-Packet-Type": "Ack"}
        if kind == "create-session":
            extra["BITS-Protocol"] = "{7df0354d-249b-430f-820d-3d2a9bef4931}"
            extra["BITS-Session-Id"] = "{%s}" % uuid.uuid4()
            extra["Accept-Encoding"] = "Identity"
        elif kind == "fragment":
            rng = self.headers.get("Content-Range", "bytes 0-0/0")
            try:
                end = int(rng.split()[1].split("/")[0].split("-")[1])
            except (IndexError, ValueError):
                end = 0
            extra["BITS-Session-Id"] = self.headers.get("BITS-Session-Id", "")
            extra["BITS-Received-Content-Range"] = str(end + 1)
        elif kind in ("close-session", "cancel-session"):
            extra["BITS-Session-Id"] = self.headers.get("BITS-Session-Id", "")
        self._reply(200, b"", extra=extra)

    def do_GET(self):
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[0] == "bytes" and len(parts) > 1:
            n = int(parts[1])
            rnd = random.Random(n)
            body = rnd.randbytes(n)
            self._reply(200, body, "application/octet-stream")
        elif parts[0] == "page" and len(parts) > 1:
            n = int(parts[1])
            rnd = random.Random(n)
            words = ["lorem", "ipsum", "dolor", "sit", "amet", "news", "report", "weather", "sport"]
            text = " ".join(rnd.choice(words) for _ in range(n // 6))
            body = ("<!doctype html><html><head><title>page</title></head><body><p>%s</p></body></html>\n"
                    % text).encode()
            self._reply(200, body)
        elif parts[0] == "poll":
            self._reply(200, b'{"update_available":false,"version":"4.2.1","next_check":600}\n',
                        "application/json")
        else:
            self._reply(200, b"<!doctype html><html><body>ok</body></html>\n")

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1])
    srv = Server(("127.0.0.1", port), Handler)
    if len(sys.argv) >= 5 and sys.argv[2] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
