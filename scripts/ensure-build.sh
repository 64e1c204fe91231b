#!/usr/bin/env bash
# Installs npm dependencies when missing and compiles TypeScript to dist/ when sources are newer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "swarmwatch: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
if [ ! -f dist/cli/main.js ] || [ -n "$(find core cli exporter log-shipper alertmanager bench test/bed -name '*.ts' -newer dist/cli/main.js 2>/dev/null | head -1)" ]; then
  echo "swarmwatch: building (tsc)" >&2
  npx tsc -p tsconfig.json >&2
  touch dist/cli/main.js
fi
