#!/usr/bin/env bash
# Regenerates the options table in README.md from the OptionSpec lists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-build.sh
table=$(node dist/cli/options-table.js)
node -e '
const fs=require("fs"); const t=fs.readFileSync("README.md","utf8"); const table=process.argv[1];
const out=t.replace(/(<!-- options:begin[^>]*-->)[\s\S]*?(<!-- options:end -->)/, (_, a, b) => a + "\n" + table + "\n" + b);
fs.writeFileSync("README.md", out);' "$table"
