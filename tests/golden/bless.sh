#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Rewrites tests/golden/expected from the current exflow. Review `git diff` before committing.
set -eu
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
# As tests/golden/run.sh: a fixed sensor name and run id make event ids reproducible.
ids="--sensor-name golden --run-id 00000000-0000-4000-8000-000000000000"
while read -r name pcap args; do
    case "$name" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2086
    "$EXFLOW" -q $ids -r "pcaps/golden/$pcap" $args >"tests/golden/expected/$name.out"
    echo "blessed $name"
done < tests/golden/TESTLIST
