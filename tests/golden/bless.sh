#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Rewrites tests/golden/expected from the current exflow. Review `git diff` before committing.
set -eu
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
while read -r name pcap args; do
    case "$name" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086
    "$EXFLOW" -q -r "pcaps/golden/$pcap" $args >"tests/golden/expected/$name.out"
    echo "blessed $name"
done < tests/golden/TESTLIST
