#!/usr/bin/env bash
# What `npm test` and CI run: install dependencies if needed, build, make sure ClickHouse,
# Postgres and Redis answer (starting local ones if not), prepare models, lint (eslint + the
# dependency rule: a violation fails the run), then vitest.
# Extra arguments go to vitest: `npm test -- test/infra`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/prepare.sh
tollgate_prepare test

printf '[test] lint (eslint + dependency rule)\n' >&2
npm run -s lint

exec npx vitest run "$@"
