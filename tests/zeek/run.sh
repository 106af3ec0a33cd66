#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# --zeek: Zeek logs as input (tests/zeek/check.py says what is checked). EXFLOW=path.
set -eu
cd "$(dirname "$0")/../.."
export TZ=UTC LC_ALL=C
exec python3 tests/zeek/check.py
