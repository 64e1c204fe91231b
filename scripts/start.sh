#!/usr/bin/env bash
# `npm start`: from a clean clone, installs what is missing, builds, and runs the all-in-one agent against
# the local engine ($DOCKER_HOST or /var/run/docker.sock) with embedded defaults. Extra arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build.sh
# A 1 MB young generation, and V8 without background GC/compiler threads (whose compile memory stayed in RSS):
# measured in docs/benchmarks.md (Exporter); bench/exporter-bench.ts and bench/scripts/agent-rss.mjs use the same flags.
exec node --max-semi-space-size=1 --single-threaded dist/cli/main.js agent "$@"
