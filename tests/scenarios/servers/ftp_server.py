#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""FTP server for the scenario captures: Debian's python3-pyftpdlib, 127.0.0.1 only.

Usage: ftp_server.py PORT ROOT [PUBLIC_IP]
  PUBLIC_IP (the address the capture will be rewritten to) goes into PASV replies, as a
  server behind NAT with masquerade_address set would send it; lftp is told to ignore it
  and connect to the control connection's address (127.0.0.1). Active mode: the client's
  PORT command carries its future internal address; the server connects to 127.0.0.1 instead.
  user 'backup' / password 'S3cure!pass' with write access to ROOT;
  passive data ports 30000-30009; active-mode data connections leave from port 2020
  (the rewriter maps it to 20, as a real FTP server's active data port).
"""

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ActiveDTP, FTPHandler
from pyftpdlib.servers import FTPServer

ACTIVE_SOURCE_PORT = 2020


class FixedPortActiveDTP(ActiveDTP):
    def __init__(self, ip, port, cmd_channel):
        super().__init__("127.0.0.1", port, cmd_channel)

    def connect_af_unspecified(self, addr, source_address=None):
        return super().connect_af_unspecified(addr, (source_address[0], ACTIVE_SOURCE_PORT))

    def bind(self, addr):
        self.set_reuse_addr()
        return super().bind(addr)


def main():
    port, root = int(sys.argv[1]), sys.argv[2]
    auth = DummyAuthorizer()
    auth.add_user("backup", "S3cure!pass", root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = auth
    handler.passive_ports = range(30000, 30010)
    handler.active_dtp = FixedPortActiveDTP
    handler.banner = "FTP server ready."
    handler.permit_privileged_ports = True
    handler.permit_foreign_addresses = True
    if len(sys.argv) > 3:
        handler.masquerade_address = sys.argv[3]
    server = FTPServer(("127.0.0.1", port), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
