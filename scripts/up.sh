#!/usr/bin/env bash
# `npm run up`: everything needed to try Tollgate on this machine, then the server in the
# foreground (Ctrl-C stops it; the databases keep running: `node scripts/services.mjs down`).
#   1. dependencies (from package-lock.json, if needed) and build
#   2. ClickHouse, Postgres and Redis (reused if running, else started: scripts/services.mjs);
#      with no ClickHouse server reachable or installable, the embedded engine (chdb:.state/chdb)
#   3. models, migrations, a demo tenant `demo` on plan `starter` with an API key
#      (kept in .state/demo.json, mode 600, reused while the tenant and key still exist)
#   4. with --demo (`npm run up -- --demo`): a month of usage history for the demo tenant
#      (`tollgate usage seed`, with an injected error burst two days back), scored by the
#      anomaly detector (an alert), and last month's invoice (`tollgate billing close`); a demo
#      tenant made by --demo has its first plan backdated 31 days so the history is billable
#   5. exec tollgate serve (all roles)
set -euo pipefail
demo_data=false
for arg in "$@"; do
  case "$arg" in
    --demo) demo_data=true ;;
    *) printf '[up] unknown option %s (known: --demo)\n' "$arg" >&2; exit 2 ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '[up] %s\n' "$*" >&2; }

# No ClickHouse server to reach or install here: run on the embedded engine (optional package chdb).
export TOLLGATE_CLICKHOUSE_FALLBACK="${TOLLGATE_CLICKHOUSE_FALLBACK:-embedded}"
. scripts/prepare.sh
tollgate_prepare up

say "migrating"
node bin/tollgate.js migrate

# The demo tenant and key. The secret is shown by the CLI only once, so it lives in
# .state/demo.json; a tenant or key deleted/revoked since is replaced.
state_dir="${TOLLGATE_STATE_DIR:-.state}"
mkdir -p "$state_dir"
demo_json="$(DEMO_FILE="$state_dir/demo.json" DEMO_DATA="$demo_data" node -e '
  const fs = require("fs");
  const { execFileSync } = require("child_process");
  const file = process.env.DEMO_FILE;
  const cli = (...args) => JSON.parse(execFileSync(process.execPath, ["bin/tollgate.js", ...args, "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));
  let demo = {};
  try { demo = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
  const tenants = cli("tenant", "list").tenants;
  let tenant = tenants.find((t) => t.id === demo.tenantId) ?? tenants.find((t) => t.name === "demo");
  if (!tenant) {
    // --demo: the first plan starts 31 days back, so a month of imported history is billable.
    const backdate = process.env.DEMO_DATA === "true" ? ["--billing-start", new Date(Math.floor(Date.now() / 86400000 - 31) * 86400000).toISOString()] : [];
    tenant = { id: cli("tenant", "create", "--name", "demo", "--plan", "starter", ...backdate).tenantId };
    process.stderr.write(`[up] created demo tenant ${tenant.id} on plan starter\n`);
  }
  const keys = tenant.id === demo.tenantId && demo.secret ? cli("key", "list", "--tenant", tenant.id).keys : [];
  if (!keys.some((k) => k.id === demo.keyId && !k.revokedAt)) {
    const k = cli("key", "create", "--tenant", tenant.id, "--name", "demo", "--role", "admin");
    demo = { keyId: k.keyId, secret: k.secret };
    process.stderr.write(`[up] created API key ${k.keyId} for the demo tenant\n`);
  }
  demo = { tenantId: tenant.id, keyId: demo.keyId, secret: demo.secret };
  fs.writeFileSync(file, JSON.stringify(demo, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  process.stdout.write(JSON.stringify(demo));
')"
secret="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).secret)' "$demo_json")"
tenant_id="$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).tenantId)' "$demo_json")"

if [ "$demo_data" = true ]; then
  say "seeding a month of usage history for the demo tenant (tollgate usage seed; already-seeded hours are skipped)"
  node bin/tollgate.js usage seed --tenant "$tenant_id" --span 30d --anomaly >&2
  say "scoring the history for anomalies (tollgate anomaly scan): the error burst opens an alert"
  node bin/tollgate.js anomaly scan --tenant "$tenant_id" >&2
  # Last month's invoice (a draft during its grace window); a demo tenant whose first plan
  # began this month has no period to close yet.
  last_month="$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m)"
  say "closing the billing period $last_month (tollgate billing close)"
  node bin/tollgate.js billing close --period "$last_month" --tenant "$tenant_id" >&2 || say "no invoice for $last_month (see the message above)"
fi

host="${TOLLGATE_HOST:-127.0.0.1}"
[ "$host" = "0.0.0.0" ] && host=127.0.0.1
inference="http://$host:${TOLLGATE_INFERENCE_PORT:-8000}"
api="http://$host:${TOLLGATE_API_PORT:-4000}"
otlp="http://$host:${TOLLGATE_OTLP_PORT:-4318}"
data="$(node -e 'process.stdout.write(Array.from({ length: 64 }, (_, i) => (i % 8) / 8).join(","))')"

cat >&2 <<EOF

Tollgate is starting (all roles in one process; Ctrl-C stops it).
  demo tenant ${tenant_id}, API key in $state_dir/demo.json
  console     $api/console   (sign in with the demo key: $secret)
  stores      DATABASE_URL=$DATABASE_URL
              CLICKHOUSE_URL=$CLICKHOUSE_URL
              REDIS_URL=$REDIS_URL

Try it (the key is the tenant's; every call is metered):
  # describe the 64 -> 10 demo MLP (Open Inference Protocol v2)
  curl -s -H 'Authorization: Bearer $secret' $inference/v2/models/mlp-demo

  # run it on one row
  curl -s -H 'Authorization: Bearer $secret' -H 'Content-Type: application/json' \\
    $inference/v2/models/mlp-demo/infer \\
    -d '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,64],"data":[$data]}]}'

  # send your application's traces (OTLP/HTTP, JSON or protobuf) under this tenant
  curl -s -H 'Authorization: Bearer $secret' -H 'Content-Type: application/json' \\
    $otlp/v1/traces -d '{"resourceSpans":[]}'
  #   or in your app: OTEL_EXPORTER_OTLP_ENDPOINT=$otlp
  #                   OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer%20$secret'

  # GraphQL API (the same key is an admin key; a JWT works too, see README): $api/graphql
  curl -s -H 'Authorization: Bearer $secret' -H 'Content-Type: application/json' $api/graphql \\
    -d '{"query":"{ viewer { tenant { name } } quotas { meters { meter limit used remaining resetAt } } }"}'

Stop the databases started for you with: node scripts/services.mjs down

EOF

exec node bin/tollgate.js serve
