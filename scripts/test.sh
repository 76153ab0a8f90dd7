#!/usr/bin/env bash
# What `npm test` and CI run: install dependencies if needed, build, make sure ClickHouse,
# Postgres and Redis answer (starting local ones if not), prepare models, then vitest.
# Extra arguments go to vitest: `npm test -- test/infra`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ONNXRUNTIME_NODE_INSTALL=skip

# npm ci only when node_modules is missing or out of date with package-lock.json. A newer lock
# file alone is not enough: npm rewrites it after installing, so compare versions to be sure.
deps_stale() {
  [ -f node_modules/.package-lock.json ] || return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    const stale = Object.entries(want).filter(([p, w]) => p && !w.optional && !w.link && have[p]?.version !== w.version);
    process.exit(stale.length ? 0 : 1);'
}
if deps_stale; then
  echo "[test] installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi

npm run -s build

services_env="$(node scripts/services.mjs)"
set -a
eval "$services_env"
set +a

if [ -f scripts/prepare-models.mjs ]; then
  node scripts/prepare-models.mjs
fi

exec npx vitest run "$@"
