/**
 * OpenTelemetry tracing for every role: @opentelemetry/sdk-node with the OTLP/HTTP (JSON)
 * trace exporter, batched. Spans go to OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), by
 * default Tollgate's own receiver on 127.0.0.1:TOLLGATE_OTLP_PORT, carrying the internal
 * OTLP token so the receiver keeps each span's `tenant.id`. No auto-instrumentation: the
 * code makes the spans it needs (inference requests, GraphQL operations, DB calls).
 * With OTEL_SDK_DISABLED the tracer is the API's no-op tracer.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { NodeSDK, resources, tracing } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';

export type TracingConfig = Pick<Config, 'OTEL_SDK_DISABLED' | 'OTEL_SERVICE_NAME' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTLP_INTERNAL_TOKEN' | 'TOLLGATE_OTLP_PORT'>;

export interface Tracing {
  tracer: Tracer;
  /** False when OTEL_SDK_DISABLED (the tracer then makes no-op spans). */
  enabled: boolean;
  /** Where spans are sent (…/v1/traces). */
  url: string;
  /** Exports spans still in the batch processor (tests, shutdown). */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  config: TracingConfig;
  logger: Logger;
  /** Overrides config.OTLP_INTERNAL_TOKEN (e.g. a per-process token shared with the receiver in `serve`). */
  internalToken?: string;
  /** Extra resource attributes, e.g. { 'tollgate.roles': 'inference,api' }. */
  resourceAttributes?: Record<string, string>;
}

export function tracesUrl(config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'TOLLGATE_OTLP_PORT'>): string {
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT ?? `http://127.0.0.1:${config.TOLLGATE_OTLP_PORT}`;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** Starts the SDK (registers the global tracer provider and the async context manager). Call once per process. */
export function startTracing(opts: StartTracingOptions): Tracing {
  const { config, logger } = opts;
  const url = tracesUrl(config);
  const tracerName = 'tollgate';
  if (config.OTEL_SDK_DISABLED) {
    return { tracer: trace.getTracer(tracerName), enabled: false, url, forceFlush: async () => undefined, shutdown: async () => undefined };
  }
  const token = opts.internalToken ?? config.OTLP_INTERNAL_TOKEN;
  const exporter = new OTLPTraceExporter({ url, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeoutMillis: 10_000 });
  const sdk = new NodeSDK({
    serviceName: config.OTEL_SERVICE_NAME,
    autoDetectResources: false,
    resource: resources.resourceFromAttributes({ 'service.name': config.OTEL_SERVICE_NAME, ...opts.resourceAttributes }),
    // Batched export; a queue deep enough for a busy inference role (the SDK default, 2048
    // spans per 5 s, drops spans above ~400 requests/s).
    spanProcessors: [new tracing.BatchSpanProcessor(exporter, { maxQueueSize: 32_768, maxExportBatchSize: 2_048, scheduledDelayMillis: 1_000, exportTimeoutMillis: 10_000 })],
    instrumentations: [],
  });
  sdk.start();
  logger.info({ url, authenticated: Boolean(token) }, 'tracing: exporting spans with OTLP/HTTP');
  const provider = trace.getTracerProvider() as { forceFlush?: () => Promise<void> };
  let stopped = false;
  return {
    tracer: trace.getTracer(tracerName),
    enabled: true,
    url,
    async forceFlush() {
      // The global provider is a proxy; its delegate (the SDK's provider) can flush.
      const delegate = (provider as { getDelegate?: () => { forceFlush?: () => Promise<void> } }).getDelegate?.() ?? provider;
      await delegate.forceFlush?.();
    },
    async shutdown() {
      if (stopped) return;
      stopped = true;
      await sdk.shutdown().catch((err: unknown) => logger.warn({ err }, 'tracing: shutdown failed'));
    },
  };
}
