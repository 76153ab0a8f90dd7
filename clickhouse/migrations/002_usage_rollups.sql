-- Usage sums per (tenant, model, api key, device, bucket) at minute, hour and day grain,
-- fed by materialized views writing TO SummingMergeTree tables. Rows with the same key are
-- summed only when parts merge, so readers always aggregate: sum(col) ... GROUP BY key.
-- Minute rows are partitioned by day so the retention job can drop them sooner.

CREATE TABLE IF NOT EXISTS usage_minute_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    requests UInt64,
    ok_requests UInt64,
    error_requests UInt64,
    client_error_requests UInt64,
    rejected_requests UInt64,
    timeout_requests UInt64,
    items UInt64,
    ok_items UInt64,
    input_bytes UInt64,
    output_bytes UInt64,
    compute_us UInt64,
    billed_compute_us UInt64,
    queue_us UInt64
)
ENGINE = {{ENGINE:SummingMergeTree}}
PARTITION BY toYYYYMMDD(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_minute_mv_v1 {{ON_CLUSTER}} TO usage_minute_v1 AS
SELECT
    tenant_id,
    toStartOfMinute(ts) AS bucket,
    model,
    api_key_id,
    device,
    count() AS requests,
    countIf(status = 'ok') AS ok_requests,
    countIf(status != 'ok') AS error_requests,
    countIf(status = 'client_error') AS client_error_requests,
    countIf(status = 'rejected') AS rejected_requests,
    countIf(status = 'timeout') AS timeout_requests,
    sum(items) AS items,
    sum(ok_items) AS ok_items,
    sum(input_bytes) AS input_bytes,
    sum(output_bytes) AS output_bytes,
    sum(compute_us) AS compute_us,
    sum(billed_compute_us) AS billed_compute_us,
    sum(queue_us) AS queue_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;

CREATE TABLE IF NOT EXISTS usage_hourly_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    requests UInt64,
    ok_requests UInt64,
    error_requests UInt64,
    client_error_requests UInt64,
    rejected_requests UInt64,
    timeout_requests UInt64,
    items UInt64,
    ok_items UInt64,
    input_bytes UInt64,
    output_bytes UInt64,
    compute_us UInt64,
    billed_compute_us UInt64,
    queue_us UInt64
)
ENGINE = {{ENGINE:SummingMergeTree}}
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv_v1 {{ON_CLUSTER}} TO usage_hourly_v1 AS
SELECT
    tenant_id,
    toStartOfHour(ts) AS bucket,
    model,
    api_key_id,
    device,
    count() AS requests,
    countIf(status = 'ok') AS ok_requests,
    countIf(status != 'ok') AS error_requests,
    countIf(status = 'client_error') AS client_error_requests,
    countIf(status = 'rejected') AS rejected_requests,
    countIf(status = 'timeout') AS timeout_requests,
    sum(items) AS items,
    sum(ok_items) AS ok_items,
    sum(input_bytes) AS input_bytes,
    sum(output_bytes) AS output_bytes,
    sum(compute_us) AS compute_us,
    sum(billed_compute_us) AS billed_compute_us,
    sum(queue_us) AS queue_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;

CREATE TABLE IF NOT EXISTS usage_daily_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    model String,
    api_key_id String,
    device String,
    requests UInt64,
    ok_requests UInt64,
    error_requests UInt64,
    client_error_requests UInt64,
    rejected_requests UInt64,
    timeout_requests UInt64,
    items UInt64,
    ok_items UInt64,
    input_bytes UInt64,
    output_bytes UInt64,
    compute_us UInt64,
    billed_compute_us UInt64,
    queue_us UInt64
)
ENGINE = {{ENGINE:SummingMergeTree}}
PARTITION BY toYear(bucket)
ORDER BY (tenant_id, bucket, model, api_key_id, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv_v1 {{ON_CLUSTER}} TO usage_daily_v1 AS
SELECT
    tenant_id,
    toStartOfDay(ts) AS bucket,
    model,
    api_key_id,
    device,
    count() AS requests,
    countIf(status = 'ok') AS ok_requests,
    countIf(status != 'ok') AS error_requests,
    countIf(status = 'client_error') AS client_error_requests,
    countIf(status = 'rejected') AS rejected_requests,
    countIf(status = 'timeout') AS timeout_requests,
    sum(items) AS items,
    sum(ok_items) AS ok_items,
    sum(input_bytes) AS input_bytes,
    sum(output_bytes) AS output_bytes,
    sum(compute_us) AS compute_us,
    sum(billed_compute_us) AS billed_compute_us,
    sum(queue_us) AS queue_us
FROM usage_events_v1
GROUP BY tenant_id, bucket, model, api_key_id, device;
