/**
 * Telemetry: OpenTelemetry tracing for every role (sdk-node + OTLP/HTTP exporter) and the
 * span store: otel_traces_v1 rows, the start-time window the table accepts, and the batching
 * writer. Receiving spans over OTLP/HTTP is an edge of its own (`otlp/`).
 */
export { startTracing, tracesUrl, mayReceiveInternalToken, tollgateSampler, type Tracing, type TracingConfig, type StartTracingOptions } from './tracing.js';
export { createSpanWriter, type SpanWriter, type OfferLimit, type SpanWriterConfig } from './span-writer.js';
export { SPAN_MAX_AGE_MS, SPAN_MAX_FUTURE_MS, type OtelSpanRow } from './span-row.js';
