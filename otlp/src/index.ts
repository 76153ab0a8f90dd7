/**
 * The OTLP/HTTP trace receiver (role `otlp`): translates OTLP/JSON and OTLP/protobuf
 * ExportTraceServiceRequests into otel_traces_v1 rows and hands them to the span writer of
 * `src/telemetry`, which owns the table.
 */
export { createOtlpReceiver, type OtlpReceiver, type OtlpReceiverDeps, type OtlpReceiverConfig } from './receiver.js';
export { spansToRows, OtlpShapeError, type OtlpPrincipal, type ConvertLimits, type ConvertResult } from './spans.js';
export { loadOtlpTypes, OTLP_TRACE_PROTO, type OtlpTypes } from './proto.js';
