#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# tests/scenarios/public.sh: see harness.py (public). EXFLOW=path (default ./exflow, from the repo root).
# Extra arguments go to the harness (scenario names for run.sh, -v for more detail).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/scenarios/harness.py public --exflow "${EXFLOW:-./exflow}" "$@"
