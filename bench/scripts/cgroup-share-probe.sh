#!/usr/bin/env bash
# Does a cgroup's CPU share grow with its threads? Under one parent cgroup: group A with 1 or 2 busy threads, group
# B with 4, and one busy task at the root (as kernel threads sit beside system.slice). Prints A's and B's CPU over
# 3 s from cpuacct (cgroup v1 with cpu and cpuacct mounted apart, as on the test bed). Root only; cleans up after.
# Used for docs/benchmarks.md, log shipper, eleventh run: whether a worker thread would win the shipper more CPU.
set -euo pipefail
C=/sys/fs/cgroup/cpuacct U=/sys/fs/cgroup/cpu
[ -f "$C/cpuacct.usage" ] && [ -d "$U" ] || { echo "cgroup-share-probe: needs cgroup v1 cpu and cpuacct under /sys/fs/cgroup" >&2; exit 2; }
busy() { sh -c 'while :; do :; done' & local p=$!; if [ -n "$1" ]; then echo $p > "$U/sharetest/$1/cgroup.procs"; echo $p > "$C/sharetest/$1/cgroup.procs"; fi; pids+=("$p"); }
run() {
  local k=$1; pids=()
  for h in "$C" "$U"; do mkdir -p "$h/sharetest/A" "$h/sharetest/B"; done
  for _ in $(seq "$k"); do busy A; done
  for _ in 1 2 3 4; do busy B; done
  busy ''
  sleep 0.5
  local a0 b0 a1 b1; a0=$(cat "$C/sharetest/A/cpuacct.usage"); b0=$(cat "$C/sharetest/B/cpuacct.usage"); sleep 3
  a1=$(cat "$C/sharetest/A/cpuacct.usage"); b1=$(cat "$C/sharetest/B/cpuacct.usage")
  kill "${pids[@]}"; wait 2>/dev/null || true
  echo "A with $k thread(s): $(( (a1 - a0) / 30000000 )) % of one CPU; B (4 threads): $(( (b1 - b0) / 30000000 )) %"
  sleep 0.3
  for h in "$C" "$U"; do rmdir "$h/sharetest/A" "$h/sharetest/B" "$h/sharetest"; done
}
run 1; run 2; run 1; run 2
