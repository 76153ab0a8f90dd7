/**
 * Telemetry: OpenTelemetry tracing for every role (sdk-node + OTLP/HTTP exporter) and the
 * OTLP/HTTP trace receiver (role `otlp`) that stores spans per tenant in otel_traces_v1.
 */
export { startTracing, tracesUrl, type Tracing, type TracingConfig, type StartTracingOptions } from './tracing.js';
export { createOtlpReceiver, type OtlpReceiver, type OtlpReceiverDeps, type OtlpReceiverConfig, type OtlpApiKeyPrincipal } from './otlp-receiver.js';
export { spansToRows, type OtelSpanRow, type OtlpPrincipal } from './otlp-spans.js';
export { loadOtlpTypes, OTLP_TRACE_PROTO } from './otlp-proto.js';
