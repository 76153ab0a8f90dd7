/**
 * What one model request is, as immutable values: each step of the request adds one fact, once,
 * and the request's end (request.ts) reads the final value to build its usage record, span,
 * metrics and log line.
 *   arrival     begin (server.ts authHook)      when, which route, the span
 *   principal   authenticated (authHook)         the API key's tenant
 *   target      the model resolved (infer.ts)    name, version, device
 *   id          the body's id (infer.ts)         request id, event id, content fingerprint
 *   input       the body decoded (infer.ts)      items, bytes, tags
 *   ticket      admitted (infer.ts)              the admission ticket to release
 *   run         the batch ended (infer.ts)       queue/compute time, batch size, device
 *   outputBytes the answer encoded (infer.ts)
 */
import { randomUUID } from 'node:crypto';
import { isSpanContextValid, type Span } from '@opentelemetry/api';
import type { AdmissionPass, AdmissionTicket } from '../../src/quotas/index.js';
import { truncateCodePoints } from '../../src/shared/index.js';
import type { ApiKeyPrincipal } from '../../src/identity/index.js';
import type { UsageRecord, UsageStatus } from '../../src/usage/index.js';
import type { ExecDevice } from './runtime/protocol.js';
import type { BatchOutcome } from './batcher/batcher.js';

/** Model routes take API keys only (src/identity's authenticateBearer). */
export type Principal = ApiKeyPrincipal;

export interface Arrival {
  readonly infer: boolean;
  readonly startedAt: number;
  readonly startNs: bigint;
  readonly span: Span;
  /** From the URL (well-formed, truncated) until the model resolves. */
  readonly model: string;
  readonly version: string;
  /** The id logs and the x-request-id header share until the body names one. */
  readonly requestId: string;
  /** The server's device, until the model's own is known. */
  readonly device: ExecDevice;
}

/** The model the request runs on; metrics label unresolved names as "" to bound cardinality. */
export interface Target {
  readonly version: string;
  readonly device: ExecDevice;
}

export interface Identity {
  /** The client's OIP id, or the arrival's id. */
  readonly requestId: string;
  /** Idempotency key: the client's OIP id, or a fresh UUID — never the x-request-id header. */
  readonly eventId: string;
  /** sha256 over model, version and body when the client chose the id (it is bound to the content). */
  readonly fingerprint?: string;
}

export interface Input {
  readonly items: number;
  readonly inputBytes: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** The request's part in the batch it ran in. */
export interface Run {
  readonly queueUs: number;
  readonly computeUs: number;
  readonly batchSize: number;
  readonly device: ExecDevice;
}

/** What the gate took before the body was read: in-flight bytes and admission's pass (rate token, slots). */
export interface Gate {
  readonly pass?: AdmissionPass;
  /** Gives back the bytes and (unless admit took it over) the pass's slots; idempotent. */
  release(): void;
}

export interface RequestState {
  readonly arrival: Arrival;
  readonly principal?: Principal;
  readonly gate?: Gate;
  readonly target?: Target;
  readonly id?: Identity;
  readonly input?: Input;
  readonly ticket?: AdmissionTicket;
  /** Set when the request timed out while its batch was running: the batch's end and cost. */
  readonly pending?: Promise<BatchOutcome>;
  readonly run?: Run;
  readonly outputBytes?: number;
}

/** The facts one step adds. */
export type Step = Omit<RequestState, 'arrival'>;

export function runOf(o: Pick<BatchOutcome, 'queueUs' | 'computeUs' | 'batchSize' | 'device'>): Run {
  return { queueUs: o.queueUs, computeUs: o.computeUs, batchSize: o.batchSize, device: o.device };
}

export function usageStatus(http: number): UsageStatus {
  if (http < 400) return 'ok';
  if (http === 504) return 'timeout';
  if (http === 429 || http === 402 || http === 503) return 'rejected';
  if (http < 500) return 'client_error';
  return 'error';
}

/**
 * Outcomes refused before any work: counted per tenant and minute (`UsageSink.rejected`), not
 * written as a usage row and an idempotency key each (issue 17.7).
 */
const REFUSED: Readonly<Record<number, string>> = {
  401: 'unauthenticated',
  402: 'quota_exhausted',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'too_large',
  415: 'unsupported_encoding',
  429: 'rate_limited',
};

/** The reason a request counts as a refusal (no usage row), or undefined when it gets its own record. */
export function refusalOf(s: RequestState, http: number): string | undefined {
  if (http < 400 || s.run || s.pending) return undefined;
  // A model name that never resolved is the client's text: it must not reach the rollups.
  return REFUSED[http] ?? (s.target ? undefined : 'unresolved');
}

export function failureReason(http: number): string {
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

/** The figures the request ends with (zeros for what it never reached). */
export function figuresOf(s: RequestState) {
  const run = s.run;
  const items = s.input?.items ?? 0;
  const batchSize = run?.batchSize ?? 0;
  const computeUs = run?.computeUs ?? 0;
  return {
    model: s.arrival.model,
    version: s.target?.version ?? s.arrival.version,
    resolved: s.target !== undefined,
    requestId: s.id?.requestId ?? s.arrival.requestId,
    items,
    queueUs: run?.queueUs ?? 0,
    computeUs,
    batchSize,
    device: run?.device ?? s.target?.device ?? s.arrival.device,
    /** This request's share of its batch's compute, by items. */
    billedComputeUs: batchSize > 0 ? Math.round((computeUs * items) / batchSize) : 0,
  };
}

export function usageRecordOf(s: RequestState & { principal: Principal }, status: number): UsageRecord {
  const f = figuresOf(s);
  const sc = s.arrival.span.spanContext();
  return {
    // A failure before the body named an id has none to keep: a fresh one, made distinct the same way.
    eventId: status < 400 && s.id ? s.id.eventId : failureEventId(s.id?.eventId ?? randomUUID()),
    requestId: f.requestId,
    tenantId: s.principal.tenantId,
    apiKeyId: s.principal.id,
    model: f.model,
    modelVersion: f.version,
    ts: s.arrival.startedAt,
    status: usageStatus(status),
    httpStatus: status,
    items: f.items,
    inputBytes: s.input?.inputBytes ?? 0,
    outputBytes: s.outputBytes ?? 0,
    queueUs: f.queueUs,
    computeUs: f.computeUs,
    batchSize: f.batchSize,
    billedComputeUs: f.billedComputeUs,
    device: f.device,
    traceId: isSpanContextValid(sc) ? sc.traceId : '',
    tags: { ...(s.input?.tags ?? {}) },
  };
}
