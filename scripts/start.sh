#!/usr/bin/env bash
# `npm start`: from a clean clone, installs what is missing, builds, and runs the all-in-one agent against
# the local engine ($DOCKER_HOST or /var/run/docker.sock) with embedded defaults. Extra arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build.sh
# A 1 MB young generation keeps RSS ≈ 40 MB lower at 1,000 containers with no measurable scrape-time cost (docs/benchmarks.md).
exec node --max-semi-space-size=1 dist/cli/main.js agent "$@"
