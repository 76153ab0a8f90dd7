# Sourced by scripts/test.sh and scripts/up.sh (not run on its own): the steps both need.
#   1. dependencies, exactly as package-lock.json pins them, only when node_modules is missing
#      or out of date with it (a newer lock file alone is not enough: npm rewrites it after
#      installing, so compare versions to be sure). `npm install --no-save` rather than
#      `npm ci`: vite's optional, Windows-only `napi-windows-process-start-time` is not served
#      by the registry here, so the lock cannot list it and `npm ci` refuses such a lock;
#      `npm install` honours the lock and skips the missing optional package.
#   2. build (tsc; then console/build.mjs bundles the tenant console with esbuild)
#   3. ClickHouse, Postgres and Redis answer (scripts/services.mjs); their settings are exported
#   4. models (scripts/prepare-models.mjs: builds mlp-demo/mlp-large, links packaged models)
# Usage: . scripts/prepare.sh; tollgate_prepare <log tag>
export ONNXRUNTIME_NODE_INSTALL=skip

tollgate_deps_stale() {
  [ -f node_modules/.package-lock.json ] || return 0
  [ package-lock.json -nt node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    const stale = Object.entries(want).filter(([p, w]) => p && !w.optional && !w.link && have[p]?.version !== w.version);
    process.exit(stale.length ? 0 : 1);'
}

tollgate_prepare() {
  local tag="$1"
  if tollgate_deps_stale; then
    printf '[%s] installing dependencies (from package-lock.json)\n' "$tag" >&2
    npm install --no-save --no-audit --no-fund
  fi
  printf '[%s] building\n' "$tag" >&2
  npm run -s build
  node console/build.mjs # the tenant console's bundle (dist/console), served by the API role at /console
  local services_env
  services_env="$(node scripts/services.mjs)"
  set -a
  eval "$services_env"
  set +a
  node scripts/prepare-models.mjs
}
