#!/usr/bin/env bash
# Create .venv at the repo root and install stepml with exact pins (requirements.lock).
# Usage: scripts/setup.sh            runtime only
#        scripts/setup.sh --dev      plus test tools (pytest, ruff, mypy, moto)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".${extra}"
