/**
 * Per-request bookkeeping for model routes: the request's state (request-state.ts: immutable
 * values, one fact added per step) and the single place that ends it — one usage record
 * (awaited before a success is answered), one OpenTelemetry span, metrics, the admission
 * ticket's release and one log line.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import { unauthenticated, toWellFormed, truncateCodePoints } from '../../src/shared/index.js';
import type { UsageSink } from '../../src/usage/index.js';
import type { InferenceMetrics } from './metrics.js';
import type { ExecDevice } from './runtime/protocol.js';
import { failureReason, figuresOf, refusalOf, runOf, usageRecordOf, usageStatus, type Principal, type RequestState, type Step } from './request-state.js';

export { failureEventId, type Principal, type RequestState } from './request-state.js';

interface Entry {
  state: RequestState;
  finished: boolean;
}

export class RequestTracker {
  private readonly entries = new WeakMap<FastifyRequest, Entry>();
  active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: { sink: UsageSink; tracer: Tracer; metrics: InferenceMetrics; device: () => ExecDevice }) {}

  begin(request: FastifyRequest): RequestState {
    const infer = request.method === 'POST';
    const parent = propagation.extract(context.active(), request.headers);
    const span = this.deps.tracer.startSpan(infer ? 'oip.infer' : 'oip.model', { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method } }, parent);
    const params = request.params as { model?: string; version?: string };
    const state: RequestState = {
      arrival: {
        infer,
        startedAt: Date.now(),
        startNs: process.hrtime.bigint(),
        span,
        model: truncateCodePoints(toWellFormed(params.model ?? ''), 128),
        version: truncateCodePoints(toWellFormed(params.version ?? ''), 64),
        requestId: request.id.length <= 256 ? request.id : randomUUID(),
        device: this.deps.device(),
      },
    };
    this.entries.set(request, { state, finished: false });
    this.active++;
    return state;
  }

  authenticated(request: FastifyRequest, principal: Principal): void {
    const s = this.advance(request, { principal });
    s.arrival.span.setAttributes({ 'tenant.id': principal.tenantId, 'tollgate.api_key.id': principal.id });
  }

  /** The request's state now (begun on first use). */
  state(request: FastifyRequest): RequestState {
    return this.entries.get(request)?.state ?? this.begin(request);
  }

  /** Adds a step's facts: the request's state becomes a new value. */
  advance(request: FastifyRequest, step: Step): RequestState {
    const entry = this.entries.get(request);
    if (!entry) throw new Error('request state advanced before it began');
    entry.state = { ...entry.state, ...step };
    return entry.state;
  }

  /** The id logs, usage records and the x-request-id response header share (the OIP id when given). */
  requestIdOf(request: FastifyRequest): string {
    const s = this.entries.get(request)?.state;
    if (s) return s.id?.requestId ?? s.arrival.requestId;
    return request.id.length <= 256 ? request.id : '';
  }

  principal(request: FastifyRequest): Principal {
    const p = this.entries.get(request)?.state.principal;
    if (!p) throw unauthenticated();
    return p;
  }

  /**
   * Ends the request. For a 200 it throws when the usage record cannot be made durable (the
   * caller then answers 503 and finish runs again with that status); for failures it never throws.
   */
  async finish(request: FastifyRequest, outcome: { status: number; error?: string }): Promise<void> {
    const entry = this.entries.get(request);
    if (!entry || entry.finished) return;
    const end = entry.state.pending;
    if (end && outcome.status >= 400) {
      // Answered (504) while its batch still runs on a worker: the request keeps its admission
      // slot, and its record carries its compute share, until the batch ends.
      entry.finished = true;
      void end
        .then((o) => this.complete(request, { ...entry.state, run: runOf(o) }, outcome))
        .catch((err: unknown) => request.log.error({ err }, 'finishing a timed-out request after its batch failed'));
      return;
    }
    await this.complete(request, entry.state, outcome);
    entry.finished = true;
  }

  private async complete(request: FastifyRequest, s: RequestState, outcome: { status: number; error?: string }): Promise<void> {
    const { status } = outcome;
    const ok = status < 400;
    await this.meter(request, s, status);
    const f = figuresOf(s);
    this.observe(s, f, status);
    // The batch's device picks the compute meter (CUDA time is not CPU time).
    s.ticket?.release({ computeUs: f.billedComputeUs, items: f.items, ok, device: f.device });
    s.gate?.release();
    const { span } = s.arrival;
    span.setAttributes({
      model: f.model,
      'model.version': f.version,
      // The tenant reads this span: only the request's own figures, never the shared batch's
      // (its size and total compute would reveal other tenants' traffic; issue 17.12).
      'tollgate.items': f.items,
      'tollgate.queue_us': f.queueUs,
      'tollgate.compute_us': f.billedComputeUs,
      'tollgate.request_id': f.requestId,
      device: f.device,
      status: usageStatus(status),
      'http.response.status_code': status,
    });
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
    span.end();
    const fields = { model: f.model, version: f.version, status, tenant: s.principal?.tenantId, items: f.items, queueUs: f.queueUs, computeUs: f.computeUs, batch: f.batchSize, error: outcome.error };
    if (status >= 500) request.log.warn(fields, 'inference request');
    else if (ok) request.log.debug(fields, 'inference request');
    else request.log.info(fields, 'inference request');
    this.active--;
    if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** The usage record of an inference request that named a model: awaited for a success (it throws if not durable). */
  private async meter(request: FastifyRequest, s: RequestState, status: number): Promise<void> {
    const { principal } = s;
    if (!s.arrival.infer || !principal) return;
    const refusal = refusalOf(s, status);
    if (refusal !== undefined) {
      this.deps.sink.rejected?.({ tenantId: principal.tenantId, ts: s.arrival.startedAt, httpStatus: status, reason: refusal });
      return;
    }
    if (s.arrival.model === '') return;
    const rec = usageRecordOf({ ...s, principal }, status);
    if (status < 400) await this.deps.sink.record(rec);
    else if (this.deps.sink.accepting()) {
      await this.deps.sink.record(rec).catch((err: unknown) => request.log.warn({ err }, 'usage record for a failed request was not stored'));
    }
  }

  private observe(s: RequestState, f: ReturnType<typeof figuresOf>, status: number): void {
    if (!s.arrival.infer || !s.principal) return;
    const { metrics } = this.deps;
    const labels = f.resolved ? { model: f.model, version: f.version } : { model: '', version: '' };
    if (status < 400) {
      metrics.success.inc(labels);
      metrics.queueDuration.observe(labels, f.queueUs / 1e6);
    } else metrics.failure.inc({ ...labels, reason: failureReason(status) });
    metrics.requestDuration.observe(labels, Number(process.hrtime.bigint() - s.arrival.startNs) / 1e9);
  }

  /** Resolves when no model request is in flight. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
