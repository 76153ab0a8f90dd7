/**
 * Per-request bookkeeping for model routes: the principal, what the request did, and the
 * single place that ends it — one usage record (awaited before a success is answered), one
 * OpenTelemetry span, metrics, the admission ticket's release and one log line.
 */
import { randomUUID } from 'node:crypto';
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { AdmissionTicket } from '../../src/quotas/index.js';
import { unauthenticated, toWellFormed, truncateCodePoints } from '../../src/shared/index.js';
import type { UsageRecord, UsageSink, UsageStatus } from '../../src/usage/index.js';
import type { InferenceMetrics } from './metrics.js';
import type { ExecDevice } from './runtime/protocol.js';
import type { BatchOutcome } from './batcher/batcher.js';

export interface Principal {
  keyId: string;
  tenantId: string;
  role: string;
  /** When the authenticator knows it: a suspended tenant's keys get 403. */
  tenantStatus?: string;
}

export interface RequestCtx {
  infer: boolean;
  startedAt: number;
  startNs: bigint;
  span: Span;
  principal?: Principal;
  model: string;
  version: string;
  /** Set once the model resolved; metrics label unknown names as "" to bound cardinality. */
  resolved: boolean;
  requestId: string;
  eventId: string;
  items: number;
  inputBytes: number;
  outputBytes: number;
  queueUs: number;
  computeUs: number;
  batchSize: number;
  device: ExecDevice;
  tags: Record<string, string>;
  ticket?: AdmissionTicket;
  /** Set when the request timed out while its batch was running: the batch's end and cost. */
  batchEnd?: Promise<BatchOutcome>;
  finished: boolean;
}

function usageStatus(http: number): UsageStatus {
  if (http < 400) return 'ok';
  if (http === 504) return 'timeout';
  if (http === 429 || http === 402 || http === 503) return 'rejected';
  if (http < 500) return 'client_error';
  return 'error';
}

function failureReason(http: number): string {
  if (http === 404) return 'not_found';
  if (http === 504) return 'timeout';
  if (http === 429 || http === 402 || http === 503) return 'rejected';
  if (http < 500) return 'bad_input';
  return 'error';
}

/**
 * Only a success owns the idempotency key: a failure's record gets a distinct event id (the
 * client's id stays in requestId), so metering's per-(tenant, event id) dedup never lets a
 * failure shadow the successful retry that follows it.
 */
export function failureEventId(eventId: string): string {
  return `${truncateCodePoints(eventId, 256 - 37)}#${randomUUID()}`;
}

export class RequestTracker {
  private readonly ctxs = new WeakMap<FastifyRequest, RequestCtx>();
  active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: { sink: UsageSink; tracer: Tracer; metrics: InferenceMetrics; device: () => ExecDevice }) {}

  begin(request: FastifyRequest): RequestCtx {
    const infer = request.method === 'POST';
    const parent = propagation.extract(context.active(), request.headers);
    const span = this.deps.tracer.startSpan(infer ? 'oip.infer' : 'oip.model', { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method } }, parent);
    const params = request.params as { model?: string; version?: string };
    const requestId = request.id.length <= 256 ? request.id : randomUUID();
    const ctx: RequestCtx = {
      infer,
      startedAt: Date.now(),
      startNs: process.hrtime.bigint(),
      span,
      model: truncateCodePoints(toWellFormed(params.model ?? ''), 128),
      version: truncateCodePoints(toWellFormed(params.version ?? ''), 64),
      resolved: false,
      requestId,
      // The idempotency key is the client's OIP id (set by the infer route) or a fresh UUID —
      // never the client's x-request-id header, which is a log correlation id only.
      eventId: randomUUID(),
      items: 0,
      inputBytes: 0,
      outputBytes: 0,
      queueUs: 0,
      computeUs: 0,
      batchSize: 0,
      device: this.deps.device(),
      tags: {},
      finished: false,
    };
    this.ctxs.set(request, ctx);
    this.active++;
    return ctx;
  }

  authenticated(request: FastifyRequest, principal: Principal): void {
    const ctx = this.ctx(request);
    ctx.principal = principal;
    ctx.span.setAttributes({ 'tenant.id': principal.tenantId, 'tollgate.api_key.id': principal.keyId });
  }

  ctx(request: FastifyRequest): RequestCtx {
    return this.ctxs.get(request) ?? this.begin(request);
  }

  /** The id logs, usage records and the x-request-id response header share (the OIP id when given). */
  requestIdOf(request: FastifyRequest): string {
    return this.ctxs.get(request)?.requestId ?? (request.id.length <= 256 ? request.id : '');
  }

  principal(request: FastifyRequest): Principal {
    const p = this.ctxs.get(request)?.principal;
    if (!p) throw unauthenticated();
    return p;
  }

  /**
   * Ends the request. For a 200 it throws when the usage record cannot be made durable (the
   * caller then answers 503 and finish runs again with that status); for failures it never throws.
   */
  async finish(request: FastifyRequest, outcome: { status: number; error?: string }): Promise<void> {
    const ctx = this.ctxs.get(request);
    if (!ctx || ctx.finished) return;
    const end = ctx.batchEnd;
    if (end && outcome.status >= 400) {
      // Answered (504) while its batch still runs on a worker: the request keeps its admission
      // slot, and its record carries its compute share, until the batch ends.
      ctx.finished = true;
      void end.then((o) => {
        ctx.queueUs = o.queueUs;
        ctx.computeUs = o.computeUs;
        ctx.batchSize = o.batchSize;
        ctx.device = o.device;
        return this.complete(request, ctx, outcome);
      }).catch((err: unknown) => request.log.error({ err }, 'finishing a timed-out request after its batch failed'));
      return;
    }
    await this.complete(request, ctx, outcome);
  }

  private async complete(request: FastifyRequest, ctx: RequestCtx, outcome: { status: number; error?: string }): Promise<void> {
    const { status } = outcome;
    const ok = status < 400;
    if (ctx.infer && ctx.principal && ctx.model !== '') {
      const rec = this.record(ctx, status);
      if (ok) await this.deps.sink.record(rec);
      else if (this.deps.sink.accepting()) {
        await this.deps.sink.record(rec).catch((err: unknown) => request.log.warn({ err }, 'usage record for a failed request was not stored'));
      }
    }
    ctx.finished = true;
    const labels = ctx.resolved ? { model: ctx.model, version: ctx.version } : { model: '', version: '' };
    if (ctx.infer && ctx.principal) {
      if (ok) {
        this.deps.metrics.success.inc(labels);
        this.deps.metrics.queueDuration.observe(labels, ctx.queueUs / 1e6);
      } else this.deps.metrics.failure.inc({ ...labels, reason: failureReason(status) });
      this.deps.metrics.requestDuration.observe(labels, Number(process.hrtime.bigint() - ctx.startNs) / 1e9);
    }
    // The batch's device picks the compute meter (CUDA time is not CPU time).
    ctx.ticket?.release({ computeUs: this.billedComputeUs(ctx), items: ctx.items, ok, device: ctx.device });
    ctx.span.setAttributes({
      model: ctx.model,
      'model.version': ctx.version,
      'batch.size': ctx.batchSize,
      'tollgate.queue_us': ctx.queueUs,
      'tollgate.compute_us': ctx.computeUs,
      'tollgate.request_id': ctx.requestId,
      device: ctx.device,
      status: usageStatus(status),
      'http.response.status_code': status,
    });
    if (status >= 500) ctx.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
    ctx.span.end();
    const fields = { model: ctx.model, version: ctx.version, status, tenant: ctx.principal?.tenantId, items: ctx.items, queueUs: ctx.queueUs, computeUs: ctx.computeUs, batch: ctx.batchSize, error: outcome.error };
    if (status >= 500) request.log.warn(fields, 'inference request');
    else if (ok) request.log.debug(fields, 'inference request');
    else request.log.info(fields, 'inference request');
    this.active--;
    if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves when no model request is in flight. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private billedComputeUs(ctx: RequestCtx): number {
    return ctx.batchSize > 0 ? Math.round((ctx.computeUs * ctx.items) / ctx.batchSize) : 0;
  }

  private record(ctx: RequestCtx, status: number): UsageRecord {
    const sc = ctx.span.spanContext();
    return {
      eventId: status < 400 ? ctx.eventId : failureEventId(ctx.eventId),
      requestId: ctx.requestId,
      tenantId: ctx.principal!.tenantId,
      apiKeyId: ctx.principal!.keyId,
      model: ctx.model,
      modelVersion: ctx.version,
      ts: ctx.startedAt,
      status: usageStatus(status),
      httpStatus: status,
      items: ctx.items,
      inputBytes: ctx.inputBytes,
      outputBytes: ctx.outputBytes,
      queueUs: ctx.queueUs,
      computeUs: ctx.computeUs,
      batchSize: ctx.batchSize,
      billedComputeUs: this.billedComputeUs(ctx),
      device: ctx.device,
      traceId: isSpanContextValid(sc) ? sc.traceId : '',
      tags: ctx.tags,
    };
  }
}

