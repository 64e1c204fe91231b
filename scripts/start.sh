#!/usr/bin/env bash
# `npm start`: from a clean clone, installs what is missing, builds, and runs the all-in-one agent against
# the local engine ($DOCKER_HOST or /var/run/docker.sock) with embedded defaults. Extra arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build.sh
# A 1 MB young generation and a full GC after each scrape (--expose-gc, core/http/server.ts) keep RSS near the live set (docs/benchmarks.md).
exec node --max-semi-space-size=1 --expose-gc dist/cli/main.js agent "$@"
