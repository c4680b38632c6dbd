#!/usr/bin/env bash
# Install the pinned Node tools (aws-cdk CLI 2.1148.1, asl-validator 4.0.0) into ./node_modules from
# package-lock.json. Usage: scripts/setup_node.sh   (needs Node >= 20 and npm; reaches only the npm registry)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "setup_node.sh: npm not found; install Node.js 20+ first" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
node_modules/.bin/cdk --version >/dev/null
node_modules/.bin/asl-validator --version >/dev/null
