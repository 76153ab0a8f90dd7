-- Spans, with the OpenTelemetry Collector ClickHouse exporter's column names adapted to
-- ClickHouse 18.16: Map attributes become parallel *Keys/*Values arrays, DateTime64(9)
-- becomes Timestamp DateTime (seconds, for partitioning and ranges) + TimestampNs UInt64
-- (exact start, ns since epoch). Duration is in ns. SpanKind/StatusCode are the exporter's
-- strings (e.g. 'Server', 'Error'). TenantId leads the sort key, then the hour, so a tenant
-- dashboard over a time range and a trace lookup (tenant + the trace's Start..End from
-- otel_traces_trace_id_ts_v1) both prune to a few granules; service/span name filters
-- prune within the hour. Daily partitions: retention drops whole days.
CREATE TABLE IF NOT EXISTS otel_traces_v1 {{ON_CLUSTER}}
(
    TenantId String,
    Timestamp DateTime('UTC'),
    TimestampNs UInt64,
    TraceId String,
    SpanId String,
    ParentSpanId String,
    TraceState String,
    SpanName String,
    SpanKind String,
    ServiceName String,
    ResourceAttributesKeys Array(String),
    ResourceAttributesValues Array(String),
    ScopeName String,
    ScopeVersion String,
    SpanAttributesKeys Array(String),
    SpanAttributesValues Array(String),
    Duration UInt64,
    StatusCode String,
    StatusMessage String,
    Events Nested
    (
        Timestamp UInt64,
        Name String,
        AttributesKeys Array(String),
        AttributesValues Array(String)
    ),
    Links Nested
    (
        TraceId String,
        SpanId String,
        TraceState String,
        AttributesKeys Array(String),
        AttributesValues Array(String)
    )
)
ENGINE = {{ENGINE:MergeTree}}
PARTITION BY toDate(Timestamp)
ORDER BY (TenantId, toStartOfHour(Timestamp), ServiceName, SpanName, Timestamp);

-- Trace id -> time range, for "all spans of a trace". One aggregated row per
-- (tenant, trace, day); read with
--   SELECT minMerge(Start) AS Start, maxMerge(End) AS End FROM otel_traces_trace_id_ts_v1
--   WHERE TenantId = ... AND TraceId = ... GROUP BY TenantId, TraceId
-- then select spans WHERE TenantId = ... AND Timestamp BETWEEN Start AND End AND TraceId = ...
-- (Start/End are span start times, like the exporter's table.)
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts_v1 {{ON_CLUSTER}}
(
    TenantId String,
    TraceId String,
    Day Date,
    Start AggregateFunction(min, DateTime('UTC')),
    End AggregateFunction(max, DateTime('UTC')),
    SpanCount AggregateFunction(count)
)
ENGINE = {{ENGINE:AggregatingMergeTree}}
PARTITION BY Day
ORDER BY (TenantId, TraceId, Day);

CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv_v1 {{ON_CLUSTER}} TO otel_traces_trace_id_ts_v1 AS
SELECT
    TenantId,
    TraceId,
    toDate(Timestamp) AS Day,
    minState(Timestamp) AS Start,
    maxState(Timestamp) AS End,
    countState() AS SpanCount
FROM otel_traces_v1
WHERE TraceId != ''
GROUP BY TenantId, TraceId, Day;
