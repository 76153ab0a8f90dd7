-- Anomaly scores written by the anomaly scan job: one row per (tenant, metric, dimension,
-- bucket) scored. `dimension` narrows the series (e.g. a model name; '' = the whole tenant).
-- ReplacingMergeTree(scored_at): re-scoring a bucket replaces the row on merge; read with
-- FINAL or argMax(col, scored_at) ... GROUP BY key. Writers pass every column.
CREATE TABLE IF NOT EXISTS anomaly_scores_v1 {{ON_CLUSTER}}
(
    tenant_id String,
    metric String,
    dimension String,
    bucket DateTime('UTC'),
    value Float64,
    baseline Float64,
    spread Float64,
    score Float64,
    is_anomaly UInt8,
    detector String,
    scored_at DateTime('UTC') DEFAULT now()
)
ENGINE = {{ENGINE:ReplacingMergeTree(scored_at)}}
PARTITION BY toYYYYMM(bucket)
ORDER BY (tenant_id, metric, dimension, bucket);
