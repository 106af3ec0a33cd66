#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs a command with stderr on a pseudo-terminal (stdout to a file), as an analyst's shell
would, and writes what the terminal showed to OUT.

  pty_run.py OUT STDOUT-FILE COMMAND...
"""
import os
import pty
import subprocess
import sys


def main(argv):
    out_path, stdout_path, command = argv[1], argv[2], argv[3:]
    master, slave = pty.openpty()
    with open(stdout_path, 'wb') as stdout:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=slave)
    os.close(slave)
    shown = b''
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:      # EIO: the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    status = proc.wait()
    os.close(master)
    with open(out_path, 'wb') as f:
        f.write(shown)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
