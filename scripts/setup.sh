#!/usr/bin/env bash
# Create .venv at the repo root and install stepml with exact pins (requirements.lock).
# Usage: scripts/setup.sh            runtime only
#        scripts/setup.sh --dev      plus the test tools (pytest, ruff, mypy, moto) and the CDK libraries
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev,cdk]"
# pip's "Location ... is ignored" lines come from this machine's pip config, not from the install
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".${extra}" 2>&1 \
  | { grep -v "^WARNING: Location 'file:" || true; }
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"
# the test suite also needs the pinned Node tools (CDK CLI, asl-validator)
if [ "${1:-}" = "--dev" ]; then
  bash scripts/setup_node.sh
fi
