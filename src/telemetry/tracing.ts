/**
 * OpenTelemetry tracing for every role: @opentelemetry/sdk-node with the OTLP/HTTP (JSON)
 * trace exporter, batched. Spans go to OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces), by
 * default Tollgate's own receiver on 127.0.0.1:TOLLGATE_OTLP_PORT, carrying the internal
 * OTLP token (to Tollgate receivers only) so the receiver keeps each span's `tenant.id`. Server
 * spans are always sampled, whatever a client's traceparent says. No auto-instrumentation: the
 * code makes the spans it needs (inference requests, GraphQL operations, DB calls).
 * With OTEL_SDK_DISABLED the tracer is the API's no-op tracer.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { NodeSDK, resources, tracing } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';

export type TracingConfig = Pick<Config, 'OTEL_SDK_DISABLED' | 'OTEL_SERVICE_NAME' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTLP_INTERNAL_TOKEN' | 'OTLP_INTERNAL_RECEIVERS' | 'TOLLGATE_OTLP_PORT'>;

export interface Tracing {
  tracer: Tracer;
  /** False when OTEL_SDK_DISABLED (the tracer then makes no-op spans). */
  enabled: boolean;
  /** Where spans are sent (…/v1/traces). */
  url: string;
  /** Whether exports carry the internal OTLP token (only to a Tollgate receiver: see `mayReceiveInternalToken`). */
  sendsInternalToken: boolean;
  /** Exports spans still in the batch processor (tests, shutdown). */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  config: TracingConfig;
  logger: Logger;
  /** Overrides config.OTLP_INTERNAL_TOKEN (e.g. a per-process token shared with the receiver in `serve`). */
  internalToken?: string;
  /** Port of the OTLP receiver this process runs (the `otlp` role), if it runs one. */
  ownReceiverPort?: number;
  /** Extra resource attributes, e.g. { 'tollgate.roles': 'inference,api' }. */
  resourceAttributes?: Record<string, string>;
}

export function tracesUrl(config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'TOLLGATE_OTLP_PORT'>): string {
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT ?? `http://127.0.0.1:${config.TOLLGATE_OTLP_PORT}`;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * The internal token makes a receiver trust each span's `tenant.id`; whoever holds it can file
 * spans under any tenant. So it goes only to a Tollgate receiver: this process's own (loopback,
 * on its receiver's port) or an origin listed in OTLP_INTERNAL_RECEIVERS — never to a collector
 * that OTEL_EXPORTER_OTLP_ENDPOINT happens to name, nor to whatever else listens on 4318 here.
 */
export function mayReceiveInternalToken(url: string, config: Pick<Config, 'OTLP_INTERNAL_RECEIVERS'>, ownReceiverPort?: number): boolean {
  const target = new URL(url);
  if (config.OTLP_INTERNAL_RECEIVERS.includes(target.origin)) return true;
  if (ownReceiverPort === undefined || ownReceiverPort === 0) return false;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname);
  return target.protocol === 'http:' && loopback && Number(target.port || 80) === ownReceiverPort;
}

/**
 * Server spans are Tollgate's own record of the work it did (tenant, model, compute): a client's
 * `traceparent` with sampled=0 must not switch them off. The trace id still links to the
 * client's trace; only the sampling decision for a remote unsampled parent is ours.
 */
export function tollgateSampler(): tracing.Sampler {
  return new tracing.ParentBasedSampler({
    root: new tracing.AlwaysOnSampler(),
    remoteParentSampled: new tracing.AlwaysOnSampler(),
    remoteParentNotSampled: new tracing.AlwaysOnSampler(),
  });
}

/** Starts the SDK (registers the global tracer provider and the async context manager). Call once per process. */
export function startTracing(opts: StartTracingOptions): Tracing {
  const { config, logger } = opts;
  const url = tracesUrl(config);
  const tracerName = 'tollgate';
  if (config.OTEL_SDK_DISABLED) {
    return { tracer: trace.getTracer(tracerName), enabled: false, url, sendsInternalToken: false, forceFlush: async () => undefined, shutdown: async () => undefined };
  }
  const configured = opts.internalToken ?? config.OTLP_INTERNAL_TOKEN;
  const token = configured && mayReceiveInternalToken(url, config, opts.ownReceiverPort) ? configured : undefined;
  if (configured && !token) logger.warn({ url }, 'tracing: the OTLP endpoint is not a Tollgate receiver, so spans go without the internal token (list it in OTLP_INTERNAL_RECEIVERS if it is one)');
  const exporter = new OTLPTraceExporter({ url, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeoutMillis: 10_000 });
  const sdk = new NodeSDK({
    serviceName: config.OTEL_SERVICE_NAME,
    sampler: tollgateSampler(),
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
    sendsInternalToken: token !== undefined,
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
