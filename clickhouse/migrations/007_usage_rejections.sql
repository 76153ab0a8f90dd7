-- Requests refused before any work (unknown model, bad or missing key, rate/concurrency/quota
-- limits, reused request id, body over the limit): counted per tenant, minute, HTTP status and
-- reason instead of one usage_events_v1 row each (issue 17.7: a flood of refusals must not cost
-- a raw row and an idempotency key per request, nor put arbitrary model names into the rollups).
-- Written by the inference role every USAGE_REJECTIONS_FLUSH_MS; readers sum(rejections) ... GROUP BY.
CREATE TABLE IF NOT EXISTS usage_rejections_minute_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    bucket DateTime('UTC'),
    http_status UInt16,
    reason String,
    rejections UInt64
)
ENGINE = {{ENGINE:SummingMergeTree}}
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, bucket, http_status, reason);
