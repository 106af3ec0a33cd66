#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# tests/scenarios/eval.sh: see harness.py (eval). EXFLOW=path (default ./exflow, from the repo root).
# Extra arguments go to the harness (scenario names for run.sh, -v for more detail).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/scenarios/harness.py eval --exflow "${EXFLOW:-./exflow}" "$@"
