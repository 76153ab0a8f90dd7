-- Latency quantile states per (tenant, model, api key, device, bucket), over
-- queue_us + compute_us of requests with status 'ok' (rejected requests never ran and
-- would drag the quantiles to 0). Read with
--   quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_us) ... GROUP BY key
-- (the same levels as stored; current ClickHouse may insist on them).

CREATE TABLE IF NOT EXISTS usage_latency_minute_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    latency_us AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64),
    latency_max_us AggregateFunction(max, UInt64)
)
ENGINE = {{ENGINE:AggregatingMergeTree}}
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_latency_minute_mv_v1 {{ON_CLUSTER}} TO usage_latency_minute_v1 AS
SELECT
    tenant_id,
    toStartOfMinute(ts) AS bucket,
    model,
    api_key_id,
    device,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(queue_us + compute_us, status = 'ok') AS latency_us,
    maxStateIf(queue_us + compute_us, status = 'ok') AS latency_max_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;

CREATE TABLE IF NOT EXISTS usage_latency_hourly_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    latency_us AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64),
    latency_max_us AggregateFunction(max, UInt64)
)
ENGINE = {{ENGINE:AggregatingMergeTree}}
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_latency_hourly_mv_v1 {{ON_CLUSTER}} TO usage_latency_hourly_v1 AS
SELECT
    tenant_id,
    toStartOfHour(ts) AS bucket,
    model,
    api_key_id,
    device,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(queue_us + compute_us, status = 'ok') AS latency_us,
    maxStateIf(queue_us + compute_us, status = 'ok') AS latency_max_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;

CREATE TABLE IF NOT EXISTS usage_latency_daily_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    latency_us AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt64),
    latency_max_us AggregateFunction(max, UInt64)
)
ENGINE = {{ENGINE:AggregatingMergeTree}}
PARTITION BY toYear(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_latency_daily_mv_v1 {{ON_CLUSTER}} TO usage_latency_daily_v1 AS
SELECT
    tenant_id,
    toStartOfDay(ts) AS bucket,
    model,
    api_key_id,
    device,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(queue_us + compute_us, status = 'ok') AS latency_us,
    maxStateIf(queue_us + compute_us, status = 'ok') AS latency_max_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;
