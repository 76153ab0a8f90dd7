/**
 * The one place that reads `process.env`. Every setting is validated by zod with a
 * laptop-friendly default; a bad value fails start-up with a message naming the variable.
 */
import { z } from 'zod';
import { productionProblems } from './secrets.js';

export { secretWeakness, bitsPerChar, KNOWN_PLACEHOLDER_SECRETS, MIN_SECRET_BITS_PER_CHAR } from './secrets.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `auto`: human-readable (pino-pretty) on a terminal outside production, JSON when piped or in production. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

  // Stores. The same names `npm run services` prints.
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/tollgate'),
  /** Role the application uses at run time: no BYPASSRLS, so row-level security applies. */
  DATABASE_APP_ROLE: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('tollgate_app'),
  /** Full URL for the app role (deployments with passwords); default: DATABASE_URL with DATABASE_APP_ROLE as user. */
  DATABASE_APP_URL: z.string().url().optional(),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  CLICKHOUSE_URL: z.string().url().default('http://127.0.0.1:8123'),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('tollgate'),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  /** When set, ClickHouse migrations run `ON CLUSTER <name>` with Replicated* engines (see clickhouse/README.md). */
  CLICKHOUSE_CLUSTER: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  /** Default `max_execution_time` (seconds) for ClickHouse reads. */
  CLICKHOUSE_MAX_EXECUTION_TIME: positiveInt.default(30),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379/0'),
  /** Prefix for every Redis key and bull queue, so several deployments or test runs can share one Redis. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:.-]+$/).default('tollgate'),

  // Roles and ports.
  TOLLGATE_HOST: z.string().default('127.0.0.1'),
  TOLLGATE_INFERENCE_PORT: port.default(8000),
  TOLLGATE_API_PORT: port.default(4000),
  TOLLGATE_OTLP_PORT: port.default(4318),
  TOLLGATE_STATE_DIR: z.string().default('.state'),

  // Inference.
  TOLLGATE_MODEL_REPOSITORY: z.string().default('inference/models'),
  INFERENCE_DEVICE: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  INFERENCE_WORKERS: positiveInt.default(2),
  INFERENCE_INTRA_OP_THREADS: positiveInt.default(1),
  INFERENCE_MAX_BODY_BYTES: positiveInt.default(32 * 1024 * 1024),
  /** Bodies without the binary extension (plain JSON) are parsed as a whole: their own, lower limit (at least 1 MiB; at most INFERENCE_MAX_BODY_BYTES applies). */
  INFERENCE_MAX_JSON_BODY_BYTES: z.coerce.number().int().min(1024 * 1024).default(8 * 1024 * 1024),
  /** Request bytes one tenant may have in flight per process (declared Content-Length, reserved before the body is read); beyond it 429. */
  INFERENCE_TENANT_INFLIGHT_BYTES: positiveInt.default(64 * 1024 * 1024),
  /** Answers up to this size are kept for the idempotency window and replayed to identical retries; larger ones are recomputed (and charged). 0 = keep none. */
  INFERENCE_REPLAY_MAX_BYTES: nonNegativeInt.default(256 * 1024),
  /** How often counts of refused requests (per tenant, minute, status) are written to usage_rejections_minute_v1. */
  USAGE_REJECTIONS_FLUSH_MS: positiveInt.default(10_000),
  INFERENCE_REQUEST_TIMEOUT_MS: positiveInt.default(30_000),
  INFERENCE_MAX_QUEUE: positiveInt.default(1024),
  /** How often the model repository is rescanned for new or changed versions (hot reload); 0 = never. */
  INFERENCE_REPOSITORY_POLL_MS: nonNegativeInt.default(2_000),
  /** Linux nice value of the session worker threads (0-19): the HTTP thread preempts them, keeping event-loop delay low. */
  INFERENCE_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(5),
  /** Bearer token a Prometheus scraper must send for GET /metrics; required in production. Unset (or empty) outside production = loopback clients only. */
  METRICS_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16).optional()),
  API_KEY_CACHE_TTL_MS: nonNegativeInt.default(5_000),
  /** Live (unrevoked, unexpired) API keys one tenant may hold; creating one more is refused. */
  API_KEYS_MAX_PER_TENANT: positiveInt.default(100),
  /** A session whose run grew the process RSS by more than this is reloaded afterwards, returning onnxruntime's CPU arena to the OS; 0 = never. */
  INFERENCE_ARENA_RECYCLE_BYTES: nonNegativeInt.default(128 * 1024 * 1024),

  // Usage metering (write-ahead log on local disk, flushed to ClickHouse).
  USAGE_WAL_DIR: z.string().optional(),
  USAGE_WAL_SYNC_INTERVAL_MS: nonNegativeInt.default(5),
  USAGE_WAL_SYNC_MAX_RECORDS: positiveInt.default(256),
  USAGE_WAL_MAX_BYTES: positiveInt.default(1024 * 1024 * 1024),
  USAGE_FLUSH_INTERVAL_MS: positiveInt.default(1_000),
  USAGE_FLUSH_MAX_ROWS: positiveInt.default(10_000),
  /** Alias of IDEMPOTENCY_WINDOW_SECONDS in hours (the flusher's old setting); must agree with it when both are set. */
  USAGE_DEDUP_WINDOW_HOURS: positiveInt.optional(),
  /** A WAL segment is sealed past this size; whole segments are deleted once confirmed in ClickHouse. */
  USAGE_WAL_SEGMENT_BYTES: positiveInt.default(64 * 1024 * 1024),
  /** Extra look-back (before a batch's first event) of the flush-time duplicate check in usage_events_v1; 0 = the batch's own time range (closes the crash window; Redis covers retries). */
  USAGE_DEDUP_CHECK_LOOKBACK_MINUTES: nonNegativeInt.default(0),
  /** Flush-time ClickHouse lookup of event ids: 'all' ids of every batch (also covers a Redis that lost keys), or only 'replays' (records Redis saw before under their own WAL uid). */
  USAGE_DEDUP_CHECK: z.enum(['all', 'replays']).default('all'),
  /** On shutdown, how long the flusher keeps draining the WAL into ClickHouse before leaving the rest for replay. */
  USAGE_DRAIN_TIMEOUT_MS: positiveInt.default(10_000),

  // Telemetry.
  OTEL_SDK_DISABLED: bool.default(false),
  OTEL_SERVICE_NAME: z.string().default('tollgate'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTLP_MAX_BODY_BYTES: positiveInt.default(8 * 1024 * 1024),
  OTLP_MAX_ATTRIBUTES: positiveInt.default(128),
  /** Bearer token that marks Tollgate's own services as the internal OTLP principal (spans keep their tenant.id). */
  OTLP_INTERNAL_TOKEN: z.string().min(16).optional(),
  /** Origins of other Tollgate OTLP receivers (comma-separated, e.g. `http://otlp:4318`) that may receive OTLP_INTERNAL_TOKEN; the role's own receiver always may, any other endpoint never. */
  OTLP_INTERNAL_RECEIVERS: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().url().transform((u) => new URL(u).origin)))
    .default([]),
  /** Spans buffered in the OTLP receiver before it answers 503 (bounded memory). */
  OTLP_MAX_BUFFERED_SPANS: positiveInt.default(200_000),
  OTLP_FLUSH_INTERVAL_MS: positiveInt.default(1_000),
  OTLP_FLUSH_MAX_ROWS: positiveInt.default(20_000),
  /** Per-tenant span intake of one receiver (token bucket): sustained spans per second and burst. Past it: 429 + Retry-After. */
  OTLP_TENANT_SPANS_PER_SECOND: positiveInt.default(2_000),
  OTLP_TENANT_SPAN_BURST: positiveInt.default(20_000),
  /** Per-tenant request bytes (declared Content-Length, checked before the body is read): per second and burst. */
  OTLP_TENANT_BYTES_PER_SECOND: positiveInt.default(4 * 1024 * 1024),
  OTLP_TENANT_BYTE_BURST: positiveInt.default(32 * 1024 * 1024),
  /** Share of OTLP_MAX_BUFFERED_SPANS one tenant may hold, and all tenants together (the rest is kept for Tollgate's own spans). */
  OTLP_TENANT_BUFFER_SHARE: z.coerce.number().gt(0).max(1).default(0.25),
  OTLP_TENANTS_BUFFER_SHARE: z.coerce.number().gt(0).max(1).default(0.8),
  /** How often the worker role runs the retention job. */
  RETENTION_INTERVAL_MS: positiveInt.default(6 * 60 * 60 * 1000),
  /** Retention in days per ClickHouse data class (18.16 has no TTL: a job drops old partitions). */
  RETENTION_USAGE_DAYS: positiveInt.default(400),
  RETENTION_ROLLUP_DAYS: positiveInt.default(800),
  RETENTION_MINUTE_ROLLUP_DAYS: positiveInt.default(40),
  RETENTION_TRACES_DAYS: positiveInt.default(30),
  RETENTION_ANOMALY_DAYS: positiveInt.default(400),

  // Anomaly detection (src/anomaly-scan): how often the worker scores new rollup buckets, how long
  // a bucket is left to settle (WAL flush, late replicas) before it is scored, and how many of a
  // tenant's models get series of their own besides the tenant-wide ones.
  ANOMALY_SCAN_INTERVAL_MS: positiveInt.default(5 * 60_000),
  ANOMALY_SETTLE_MS: positiveInt.default(5 * 60_000),
  ANOMALY_TOP_MODELS: z.coerce.number().int().min(0).max(20).default(3),
  /** Alert transitions whose hour ended longer ago than this are not sent as webhooks (history scored late). */
  ANOMALY_NOTIFY_MAX_AGE_MS: positiveInt.default(3 * 60 * 60_000),
  // Tenant webhooks (src/webhooks). Loopback/private targets are refused unless allowed here (tests, on-premise receivers).
  WEBHOOK_ALLOW_PRIVATE_TARGETS: bool.default(false),
  WEBHOOK_TIMEOUT_MS: positiveInt.max(60_000).default(10_000),
  WEBHOOK_MAX_RESPONSE_BYTES: positiveInt.default(64 * 1024),
  WEBHOOK_SWEEP_INTERVAL_MS: positiveInt.default(30_000),
  // Invoices (src/invoices): the issuer prefix of invoice numbers (PREFIX-YYYY-NNNNNN), how often the
  // worker scans for ended periods and drafts past their grace window, how often each inference
  // replica publishes its usage WAL's flushed-through watermark, and how long a replica may be
  // silent before it is reported and stops blocking finalization.
  INVOICE_NUMBER_PREFIX: z.string().regex(/^[A-Z0-9]{1,12}$/, 'INVOICE_NUMBER_PREFIX: 1-12 capital letters or digits').default('TG'),
  BILLING_SCAN_INTERVAL_MS: positiveInt.default(60 * 60_000),
  USAGE_WATERMARK_INTERVAL_MS: positiveInt.default(5_000),
  USAGE_WATERMARK_SILENCE_MS: positiveInt.default(10 * 60_000),
  // Grafana's alert notifications received at POST /webhooks/grafana: a bearer token and/or an HMAC secret (unset: the route answers 503).
  GRAFANA_WEBHOOK_TOKEN: z.string().min(16).optional(),
  GRAFANA_WEBHOOK_HMAC_SECRET: z.string().min(16).optional(),
  // Quotas and admission.
  QUOTA_REDIS_FAILURE_MODE: z.enum(['open', 'closed']).default('open'),
  QUOTA_RECONCILE_INTERVAL_MS: positiveInt.default(60_000),
  /** Reconciliation trusts ClickHouse for use older than this (events still in the WAL/flush pipeline are newer). */
  QUOTA_RECONCILE_SETTLE_MS: positiveInt.default(120_000),
  /** How often each process pushes its local use to Redis and refreshes its leases. */
  QUOTA_SYNC_INTERVAL_MS: positiveInt.default(1_000),
  /** Leases (tokens, slots, quota units) of a process that stops refreshing them expire after this. */
  QUOTA_LEASE_TTL_MS: positiveInt.default(30_000),
  /** Deadline for one Redis call on the admission path. */
  QUOTA_REDIS_TIMEOUT_MS: positiveInt.default(200),
  /** Alias of IDEMPOTENCY_WINDOW_SECONDS (admission's old setting); must agree with it when both are set. */
  QUOTA_IDEMPOTENCY_WINDOW_SECONDS: positiveInt.optional(),

  // Idempotency (src/idempotency): one window for admission and metering.
  /** How long a (tenant, request id) is remembered: a retry within it is not charged or billed again, a reuse for another request is refused (like Stripe's 24 h). */
  IDEMPOTENCY_WINDOW_SECONDS: positiveInt.default(86_400),
  /** Cached plan limits are refreshed after this (plan changes also invalidate at once via Redis pub/sub). */
  QUOTA_LIMITS_CACHE_TTL_MS: positiveInt.default(5_000),

  // GraphQL API and its principals.
  JWT_ISSUER: z.string().default('tollgate'),
  JWT_AUDIENCE: z.string().default('tollgate-api'),
  JWT_ALGORITHMS: z.string().default('HS256'),
  JWT_SECRET: z.string().optional(),
  JWT_JWKS_URL: z.string().url().optional(),
  /**
   * Failed-credential limiter (every edge): API-key lookups of unknown credentials that reach the
   * database, per source address and across the service, per AUTH_FAILURE_WINDOW_SECONDS. Past
   * either, unknown credentials get 429 without a lookup; keys seen valid in the last day pass.
   */
  /** JWTs must carry `iat`; a token issued longer ago than this is refused whatever its `exp` says. */
  JWT_MAX_AGE_SECONDS: positiveInt.default(3600),
  /** How long a JWT subject's memberships, operator status and jti revocation are cached (changes announce themselves at once). */
  MEMBERSHIP_CACHE_TTL_MS: nonNegativeInt.default(5_000),
  AUTH_FAILURES_PER_IP: positiveInt.default(20),
  AUTH_FAILURES_GLOBAL: positiveInt.default(2000),
  AUTH_FAILURE_WINDOW_SECONDS: positiveInt.default(60),
  GRAPHQL_INTROSPECTION: bool.optional(),
  GRAPHQL_SAFELIST_FILE: z.string().optional(),
  /** Per-tenant token bucket on the GraphQL API: sustained requests per second and burst size. */
  GRAPHQL_RATE_LIMIT_PER_SECOND: positiveInt.default(50),
  GRAPHQL_RATE_LIMIT_BURST: positiveInt.default(100),
  /**
   * Rows one GraphQL operation may read, summed over its fields and aliases (estimated before it
   * runs: time buckets × series; see graphql/src/server/row-budget.ts); more is refused unrun.
   */
  GRAPHQL_ROW_BUDGET: positiveInt.default(100_000),
  /** Series a grouped report is assumed to have when budgeting (its real count is known only after reading). */
  GRAPHQL_SERIES_ESTIMATE: positiveInt.default(20),
  /** Operations estimated at this many rows or more are heavy: a tenant runs at most GRAPHQL_HEAVY_CONCURRENCY of them at once per API process. */
  GRAPHQL_HEAVY_ROWS: positiveInt.default(20_000),
  GRAPHQL_HEAVY_CONCURRENCY: positiveInt.default(2),
  /** Provider-side cost of compute, in micros (may be fractional, e.g. 0.012) per compute-ms, per device. */
  COST_RATE_MICROS_PER_CPU_MS: z.string().regex(/^\d+(\.\d{1,12})?$/).default('0.012'),
  COST_RATE_MICROS_PER_CUDA_MS: z.string().regex(/^\d+(\.\d{1,12})?$/).default('0.35'),

  // Stripe collection (src/payments). Without a secret key, sync is off (one log line at start).
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  /** Where the Stripe API is: sets the SDK's protocol, host and port (e.g. http://127.0.0.1:12111 for a local fake or stripe-mock). */
  STRIPE_API_URL: z.string().url().default('https://api.stripe.com'),
  /** Signing secret of the webhook endpoint (whsec_…); without it POST /webhooks/stripe answers 503. */
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Older names of STRIPE_SECRET_KEY and STRIPE_API_URL; accepted, and must agree with the new ones when both are set. */
  STRIPE_API_KEY: z.string().min(1).optional(),
  STRIPE_API_BASE: z.string().url().optional(),
  /** One Stripe request's timeout; a timed-out request is retried with the same idempotency key. */
  STRIPE_TIMEOUT_MS: positiveInt.default(20_000),
  /** Retries of one Stripe request after a 5xx, 429 (waiting its Retry-After) or a network error, with exponential backoff from STRIPE_RETRY_BASE_MS. */
  STRIPE_MAX_RETRIES: nonNegativeInt.default(5),
  STRIPE_RETRY_BASE_MS: positiveInt.default(500),
  /** How often the worker sweeps finalized invoices not yet in Stripe (and retries failed ones). */
  STRIPE_SYNC_INTERVAL_MS: positiveInt.default(10 * 60_000),
  /** How often the worker checks past-due tenants against their plan's dunning days. */
  DUNNING_CHECK_INTERVAL_MS: positiveInt.default(60 * 60_000),
});

/**
 * Older names of one setting, with their unit in seconds. They are accepted as input and must
 * agree with each other and with the main name; code reads only the main name.
 */
const ALIASES = {
  QUOTA_IDEMPOTENCY_WINDOW_SECONDS: { of: 'IDEMPOTENCY_WINDOW_SECONDS', scale: 1 },
  USAGE_DEDUP_WINDOW_HOURS: { of: 'IDEMPOTENCY_WINDOW_SECONDS', scale: 3600 },
} as const;
/** Older names of text settings: accepted, must agree with the main name; code reads only the main name. */
const TEXT_ALIASES = {
  STRIPE_API_KEY: 'STRIPE_SECRET_KEY',
  STRIPE_API_BASE: 'STRIPE_API_URL',
} as const;
type NumericAliasName = keyof typeof ALIASES;
type AliasName = NumericAliasName | keyof typeof TEXT_ALIASES;

export type Config = Omit<z.infer<typeof envSchema>, AliasName>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses an environment (default: `process.env`) into a typed config, or throws naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    // Empty strings mean "unset" for optional settings, as shells and compose files often produce them.
    if (value !== undefined && value !== '') known[key] = value;
  }
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message} (got ${JSON.stringify(known[String(i.path[0])])})`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const production = productionProblems(parsed.data);
  if (production.length > 0) throw new ConfigError(`invalid production configuration (NODE_ENV=production):\n  ${production.join('\n  ')}`);
  return resolveAliases(parsed.data, known);
}

/** Folds each alias into its main setting; several names set to different values is an error naming them. */
function resolveAliases(data: z.infer<typeof envSchema>, known: Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = { ...data };
  const given = new Map<string, Array<{ name: string; seconds: number }>>();
  for (const [alias, { of, scale }] of Object.entries(ALIASES) as Array<[NumericAliasName, (typeof ALIASES)[NumericAliasName]]>) {
    delete out[alias];
    const value = data[alias];
    if (value === undefined) continue;
    const list = given.get(of) ?? [];
    if (known[of] !== undefined && list.length === 0) list.push({ name: of, seconds: data[of] });
    list.push({ name: alias, seconds: value * scale });
    given.set(of, list);
  }
  for (const [main, list] of given) {
    if (new Set(list.map((g) => g.seconds)).size > 1) {
      const named = list.map((g) => `${g.name}=${known[g.name]}`).join(', ');
      throw new ConfigError(`invalid configuration:\n  ${main}: ${list.map((g) => g.name).join(' and ')} name one setting and must agree (got ${named}, i.e. ${list.map((g) => `${g.seconds} s`).join(' vs ')})`);
    }
    out[main] = list[0]!.seconds;
  }
  for (const [alias, main] of Object.entries(TEXT_ALIASES) as Array<[keyof typeof TEXT_ALIASES, string]>) {
    delete out[alias];
    if (known[alias] === undefined) continue;
    if (known[main] !== undefined && known[main] !== known[alias]) {
      throw new ConfigError(`invalid configuration:\n  ${main}: ${alias} is its older name and must agree with it when both are set`);
    }
    out[main] = data[alias];
  }
  return out as Config;
}

/** The names every Tollgate process understands; docker-compose.yml may set only these. */
export const knownVariables: readonly string[] = Object.keys(envSchema.shape);
