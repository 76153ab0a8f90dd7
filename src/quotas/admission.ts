/**
 * Admission control before any compute: rate limit, concurrency cap and monthly quotas for the
 * tenant and (when it has its own caps) the API key, with IETF RateLimit headers.
 *
 * Every check spends from process-local leases of shared Redis state (see rate-limiter.ts,
 * concurrency.ts, quota-counter.ts), so an admitted request normally costs microseconds and
 * no round trip, while all processes together stay within each limit. The steps are in
 * admission-steps.ts, the long-lived pieces in admission-parts.ts, the ticket in ticket.ts.
 */
import type { Admission, AdmissionDecision, AdmissionGateRequest, AdmissionPass, AdmissionRequest, GateDecision, RateLimitHeaders } from './contract.js';
import type { LimitScope } from './decisions.js';
import type { EffectiveLimits } from './types.js';
import type { AdmissionParts } from './admission-parts.js';
import { createAdmissionParts, type AdmissionConfig, type AdmissionDeps } from './admission-parts.js';
import { checkId, chargeQuotas, isPromise, issueTicket, limitsOf, scopesOf, takeSlots, takeTokens } from './admission-steps.js';
import { quotaExhausted, tooManyConcurrent, unavailable } from './decisions.js';
import { giveBack, Holdings, releaseSlots } from './holdings.js';
import { RedisUnavailableError } from './redis-guard.js';

export type { AdmissionConfig, AdmissionDeps };

export interface AdmissionService extends Admission {
  /** Sends pending idempotency marks and pushes local use to Redis now (tests, shutdown). */
  flush(): Promise<void>;
  /** Drops cached limits of a tenant in this process (pub/sub does this for every process). */
  invalidate(tenantId: string): void;
  close(): Promise<void>;
}

/** What the gate took for a request (`enter`), handed to `admit` or released when the request ends first. */
class Pass implements AdmissionPass {
  state: 'held' | 'admitted' | 'released' = 'held';
  constructor(
    private readonly parts: AdmissionParts,
    readonly h: Holdings,
    readonly limits: EffectiveLimits,
    readonly scopes: LimitScope[],
    readonly headers: RateLimitHeaders,
  ) {}

  release(): void {
    if (this.state !== 'held') return;
    this.state = 'released';
    releaseSlots(this.parts, this.h.slots);
  }
}

export function createAdmission(deps: AdmissionDeps): AdmissionService {
  const parts = createAdmissionParts(deps);
  const { clock } = parts;
  let closing: Promise<void> | undefined;

  /** Rate token and concurrency slots: what the plan allows, needing nothing from the body. */
  async function enter(req: AdmissionGateRequest): Promise<GateDecision> {
    const l = await limitsOf(parts, req);
    if (!('tenant' in l)) return l as Extract<AdmissionDecision, { allowed: false }>;
    const scopes = scopesOf(req, l);
    const h = new Holdings(Math.floor(clock() / 60_000));
    try {
      const rate = await takeTokens(parts, scopes, h);
      if ('allowed' in rate) return (giveBack(parts, h, req), rate as Extract<AdmissionDecision, { allowed: false }>);
      const full = await takeSlots(parts, scopes, h);
      if (full) return (giveBack(parts, h, req), tooManyConcurrent(full, rate.headers) as Extract<AdmissionDecision, { allowed: false }>);
      return { allowed: true, headers: rate.headers, pass: new Pass(parts, h, l, scopes, rate.headers) };
    } catch (err) {
      giveBack(parts, h, req);
      if (err instanceof RedisUnavailableError) return unavailable('admission control is unavailable; try again shortly') as Extract<AdmissionDecision, { allowed: false }>;
      throw err;
    }
  }

  async function admit(req: AdmissionRequest, pass?: AdmissionPass): Promise<AdmissionDecision> {
    if (pass instanceof Pass && pass.state === 'held') return admitPassed(req, pass);
    const l = await limitsOf(parts, req);
    if (!('tenant' in l)) return l;
    const scopes = scopesOf(req, l);
    const h = new Holdings(Math.floor(clock() / 60_000));
    const refuse = (d: AdmissionDecision): AdmissionDecision => (giveBack(parts, h, req), d);
    try {
      // What the plan allows: nothing here needs the request's body.
      const rate = await takeTokens(parts, scopes, h);
      if ('allowed' in rate) return refuse(rate);
      const { headers } = rate;
      const full = await takeSlots(parts, scopes, h);
      if (full) return refuse(tooManyConcurrent(full, headers));
      return await admitBody(req, l, scopes, h, headers, refuse);
    } catch (err) {
      giveBack(parts, h, req);
      if (err instanceof RedisUnavailableError) return unavailable('admission control is unavailable; try again shortly');
      throw err;
    }
  }

  /** After the gate: the token stays spent whatever happens next (every request is rate limited). */
  async function admitPassed(req: AdmissionRequest, pass: Pass): Promise<AdmissionDecision> {
    pass.state = 'admitted';
    const { h } = pass;
    h.tokens.length = 0;
    const refuse = (d: AdmissionDecision): AdmissionDecision => (giveBack(parts, h, req), d);
    try {
      return await admitBody(req, pass.limits, pass.scopes, h, pass.headers, refuse);
    } catch (err) {
      giveBack(parts, h, req);
      if (err instanceof RedisUnavailableError) return unavailable('admission control is unavailable; try again shortly');
      throw err;
    }
  }

  /** What the request is: its id (a retry is not charged, a reused id refused), its items. */
  async function admitBody(
    req: AdmissionRequest,
    l: EffectiveLimits,
    scopes: LimitScope[],
    h: Holdings,
    headers: RateLimitHeaders,
    refuse: (d: AdmissionDecision) => AdmissionDecision,
  ): Promise<AdmissionDecision> {
    const now = clock();
    h.minute = Math.floor(now / 60_000);
    const id0 = checkId(parts, req, now, h, headers);
    const id = isPromise(id0) ? await id0 : id0;
    if ('allowed' in id) return refuse(id);
    const short = await chargeQuotas(parts, req, l, scopes, { now, duplicate: id.duplicate }, h);
    if (short) return refuse(quotaExhausted(short.counter, short.scope, headers, clock()));
    const ticket = issueTicket(parts, req, h, now, id.duplicate);
    return { allowed: true, headers, priority: l.priorityTier, weight: l.priorityTier, ticket, ...(id.duplicate ? { retry: true } : {}) };
  }

  return {
    admit,
    enter,
    flush() {
      parts.marks.flush();
      return parts.counters.flush(undefined, true);
    },
    invalidate: (tenantId) => parts.limits.invalidate(tenantId),
    close() {
      closing ??= parts.close();
      return closing;
    },
  };
}
