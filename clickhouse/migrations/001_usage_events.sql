-- Raw usage: one row per inference request (success or failure), written by the metering
-- flusher in batches. event_id is the idempotency key; ReplacingMergeTree is the last wall
-- against duplicates (metering dedups before insert, so rollups are not double counted).
-- tenant_id/api_key_id are lower-case UUID text (String: simplest for JSON and ordering).
-- Writers must pass every column (or name `columns`): JSONEachRow gives omitted fields the
-- type's zero value, not the DEFAULT. ts is the request arrival second, ts_ms the same in ms.
CREATE TABLE IF NOT EXISTS usage_events_v1 {{ON_CLUSTER}}
(
    event_id String,
    batch_id String,
    tenant_id String,
    api_key_id String,
    request_id String,
    model String,
    model_version String,
    ts DateTime('UTC'),
    ts_ms UInt64,
    status String,
    http_status UInt16,
    items UInt32,
    -- Derived, for the rollups' ok_items (18.16 cannot reference `items` twice in a view's SELECT
    -- once it is an alias); never inserted.
    ok_items UInt32 MATERIALIZED if(status = 'ok', items, 0),
    input_bytes UInt64,
    output_bytes UInt64,
    queue_us UInt64,
    compute_us UInt64,
    billed_compute_us UInt64,
    batch_size UInt32,
    device String,
    tag_keys Array(String),
    tag_values Array(String),
    trace_id String,
    inserted_at DateTime('UTC') DEFAULT now()
)
ENGINE = {{ENGINE:ReplacingMergeTree(inserted_at)}}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, ts, event_id);
