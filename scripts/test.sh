#!/usr/bin/env bash
# The test command: lint, format check, types, then the whole test suite (unit, functional, slow).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
