#!/usr/bin/env bash
# `npm test`: the whole suite, installing what it needs when missing. Fast unit tests on recorded fixtures first,
# then integration tests on private engines, then the multi-node swarm scenarios on one shared swarm.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-test-deps.sh || { echo "swarmwatch: could not install test dependencies" >&2; exit 1; }
bash scripts/ensure-build.sh || exit 1
npx tsc -p tsconfig.test.json || exit 1
passed=0; failed=0; skipped=0; rc=0
for project in unit integration swarm; do
  report=$(mktemp --suffix=.json)
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile.json="$report" "$@"
  code=$?
  if [ -s "$report" ]; then
    p=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numPassedTests||0)' "$report" 2>/dev/null || echo 0)
    f=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.numFailedTests||0)' "$report" 2>/dev/null || echo 0)
    k=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log((r.numPendingTests||0)+(r.numTodoTests||0))' "$report" 2>/dev/null || echo 0)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  fi
  rm -f "$report"
  [ $code -ne 0 ] && rc=$code
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $rc
