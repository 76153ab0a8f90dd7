/**
 * The contract between the inference service and admission control (quotas, rate limits,
 * concurrency) and the fair scheduler that orders queued work across tenants.
 */

export interface AdmissionRequest {
  tenantId: string;
  apiKeyId: string;
  model: string;
  /** Items the request asks for (batch dimension); quotas on items are checked against it. */
  items: number;
  /** Idempotency key; a retried event id is admitted without consuming quota twice. */
  eventId: string;
  /**
   * Device the model runs on (added later, optional, default 'cpu'): a hard compute quota is
   * checked only for this device's meter (e.g. a plan with no CUDA minutes still runs CPU models).
   */
  device?: 'cpu' | 'cuda';
  /**
   * Content fingerprint (added later, optional): sha256 over (model, version, raw request body),
   * sent when the client chose the event id. The same id with a different fingerprint is denied
   * with 409 CONFLICT; the same fingerprint is a retry.
   */
  fingerprint?: string;
}

/** Standard IETF RateLimit headers to put on every response (may be empty). */
export type RateLimitHeaders = Record<string, string>;

export type AdmissionDecision =
  /** `retry` (added later): the request id was already charged for this very request (an identical retry). */
  | { allowed: true; headers: RateLimitHeaders; priority: number; weight: number; ticket: AdmissionTicket; retry?: boolean }
  | {
      allowed: false;
      /**
       * 429 for rate/concurrency, 402 for an exhausted hard quota, 503 when failing closed,
       * 409 (added later) when the request id was already used for a different request.
       */
      status: 429 | 402 | 503 | 409;
      code: 'RATE_LIMITED' | 'QUOTA_EXHAUSTED' | 'UNAVAILABLE' | 'CONFLICT';
      message: string;
      headers: RateLimitHeaders;
      retryAfterSeconds?: number;
      details?: Record<string, unknown>;
    };

/** Held while a request is in flight; `release` frees its concurrency slot and records actual usage. */
export interface AdmissionTicket {
  /**
   * `computeUs`: this request's share of its batch's compute (the usage record's billedComputeUs);
   * `device` (added later, optional, default 'cpu') picks the compute meter it is charged to.
   */
  release(outcome: { computeUs: number; items: number; ok: boolean; device?: 'cpu' | 'cuda' }): void;
}

/** Who a request is, before its body is read (the gate: rate token and concurrency slots). */
export interface AdmissionGateRequest {
  tenantId: string;
  apiKeyId: string;
}

/** A request that passed the gate: `admit` continues from it; a request ending before admit releases it. */
export interface AdmissionPass {
  /** Frees the concurrency slots of a request that ends without being admitted; its rate token stays spent. */
  release(): void;
}

export type GateDecision = { allowed: true; headers: RateLimitHeaders; pass: AdmissionPass } | Extract<AdmissionDecision, { allowed: false }>;

export interface Admission {
  /**
   * `pass` (from `enter`): the rate token and slots were taken before the body was read; admit
   * goes on with the id, quotas and items (issue 17.6). Without it admit takes them itself.
   */
  admit(req: AdmissionRequest, pass?: AdmissionPass): Promise<AdmissionDecision>;
  /**
   * Optional (added later): rate limit and concurrency before the body is read. Every
   * authenticated request passes here, failures included (issue 17.7).
   */
  enter?(req: AdmissionGateRequest): Promise<GateDecision>;
}

/** Admits everything; used when quotas are not wired (tests of the inference service alone). */
export const allowAll: Admission = {
  async admit() {
    return { allowed: true, headers: {}, priority: 0, weight: 1, ticket: { release() {} } };
  },
  async enter() {
    return { allowed: true, headers: {}, pass: { release() {} } };
  },
};

/**
 * The queue a model's dynamic batcher takes work from. FIFO is the trivial implementation;
 * quotas provides weighted fair queueing across tenants with a bounded per-tenant share.
 */
export interface TenantQueue<T> {
  /** Returns false (and does not enqueue) when the queue or this tenant's share of it is full. */
  push(item: T, owner: { tenantId: string; weight: number; cost: number }): boolean;
  /** Next item to serve, or undefined when empty. */
  shift(): T | undefined;
  /** Look at the next item without removing it. */
  peek(): T | undefined;
  /** Remove a specific item (e.g. on timeout); returns true when it was queued. */
  remove(item: T): boolean;
  readonly size: number;
}

export type TenantQueueFactory = <T>(opts: { capacity: number }) => TenantQueue<T>;
