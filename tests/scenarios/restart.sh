#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# tests/scenarios/restart.sh: see restart.py. Every scenario in the default build; in the
# sanitizer builds the four whose alerts depend on restored state (baselines, schedules,
# learned first-seen), to keep each variant's run short.
set -euo pipefail
cd "$(dirname "$0")/../.."
names=()
if [ "$(basename "${BUILD:-build/default}")" != default ]; then
    names=(sftp_hourly tls_mega py_zip_post daily_0300)
fi
exec python3 tests/scenarios/restart.py --exflow "${EXFLOW:-./exflow}" "${names[@]}"
