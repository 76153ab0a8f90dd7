-- Cost attribution by tag: usage sums per (tenant, hour, tag key, tag value, model, device),
-- one row per tag of each event (ARRAY JOIN over the index, so tag_keys/tag_values of
-- unequal length can never fail an insert: a missing value reads as ''). Events without
-- tags do not appear here. Readers aggregate: sum(col) ... GROUP BY key.
CREATE TABLE IF NOT EXISTS usage_tags_hourly_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    tag_key String,
    tag_value String,
    model String,
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
ORDER BY (tenant_id, bucket, tag_key, tag_value, model, device);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_tags_hourly_mv_v1 {{ON_CLUSTER}} TO usage_tags_hourly_v1 AS
SELECT
    tenant_id,
    toStartOfHour(ts) AS bucket,
    tag_keys[tag_index] AS tag_key,
    tag_values[tag_index] AS tag_value,
    model,
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
ARRAY JOIN arrayEnumerate(tag_keys) AS tag_index
GROUP BY tenant_id, bucket, tag_key, tag_value, model, device;
