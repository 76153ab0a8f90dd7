/**
 * The steps of one admission, in order (admission.ts runs them):
 *   limitsOf → takeTokens → takeSlots      what the plan allows; needs nothing from the body
 *   → checkId → chargeQuotas               what the request is: its id and content, its items
 *   → issueTicket
 * Each step records what it took in the request's Holdings, so a refusal at any step gives back
 * exactly that (holdings.ts). Steps return synchronously when the local leases suffice.
 */
import { decide, NO_FINGERPRINT } from '../idempotency/index.js';
import { deviceClass, unitsOfRecord } from '../metering/index.js';
import type { AdmissionDecision, AdmissionRequest, RateLimitHeaders } from './contract.js';
import type { AdmissionParts } from './admission-parts.js';
import { conflict, rateHeaders, rateLimited, unavailable, type LimitScope } from './decisions.js';
import type { Holdings } from './holdings.js';
import { keyScope, tenantScope } from './keys.js';
import type { Counter } from './quota-counter.js';
import type { RateCheck } from './rate-limiter.js';
import { RedisUnavailableError } from './redis-guard.js';
import { Ticket } from './ticket.js';
import type { EffectiveLimits } from './types.js';

export const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === 'function';

const NO_PLAN: AdmissionDecision = { allowed: false, status: 402, code: 'QUOTA_EXHAUSTED', message: 'the tenant has no active plan', headers: {}, details: { reason: 'no_plan' } };

/** The cached limits, or the refusal when there are none (no plan) or they cannot be loaded. */
export async function limitsOf(parts: AdmissionParts, req: Pick<AdmissionRequest, 'tenantId' | 'apiKeyId'>): Promise<EffectiveLimits | AdmissionDecision> {
  const got = parts.limits.get(req.tenantId, req.apiKeyId);
  let l: EffectiveLimits | null;
  try {
    l = isPromise(got) ? await got : got;
  } catch (err) {
    parts.logger.warn({ err: (err as Error).message, tenantId: req.tenantId }, 'cannot load limits');
    return unavailable('limits are unavailable; try again shortly');
  }
  return l ?? NO_PLAN;
}

/** The tenant's scope, and the API key's when it has its own caps. */
export function scopesOf(req: Pick<AdmissionRequest, 'tenantId' | 'apiKeyId'>, l: EffectiveLimits): LimitScope[] {
  const scopes: LimitScope[] = [{ id: tenantScope(req.tenantId), apiKeyId: undefined, limits: l.tenant }];
  if (l.key) scopes.push({ id: keyScope(req.tenantId, req.apiKeyId), apiKeyId: req.apiKeyId, limits: l.key });
  return scopes;
}

/** A token from every scope's bucket; the tightest bucket goes in the headers. */
export async function takeTokens(parts: AdmissionParts, scopes: LimitScope[], h: Holdings): Promise<{ headers: RateLimitHeaders } | AdmissionDecision> {
  let tightest: RateCheck | undefined;
  for (const s of scopes) {
    if (!s.limits.rate) continue;
    const r0 = parts.rates.check(s.id, s.limits.rate.rps, s.limits.rate.burst);
    const r = isPromise(r0) ? await r0 : r0;
    if (!r.ok) return rateLimited(r, s);
    h.tokens.push({ scope: s.id, degraded: r.degraded });
    if (!tightest || r.remaining / r.limit < tightest.remaining / tightest.limit) tightest = r;
  }
  return { headers: rateHeaders(tightest) };
}

/** A concurrency slot in every capped scope; the scope at its cap, if any. */
export async function takeSlots(parts: AdmissionParts, scopes: LimitScope[], h: Holdings): Promise<LimitScope | undefined> {
  for (const s of scopes) {
    if (s.limits.concurrency === null) continue;
    const ok0 = parts.slots.acquire(s.id, s.limits.concurrency);
    if (!(isPromise(ok0) ? await ok0 : ok0)) return s;
    h.slots.push(s.id);
  }
  return undefined;
}

/** new: charge it; retry: serve it without charging again. */
export type IdCheck = { duplicate: boolean };

/**
 * The request id, as far as this process knows, then — for a client-chosen id (it has a
 * fingerprint) new to this process — as Redis knows it, before anything is charged or served:
 * a reused id is never served and a retry never charged (idempotency's `decide`). Redis down:
 * a client id this process does not remember is refused with 503 in either failure mode (it
 * cannot be checked); ids the server generated need no check. Synchronous unless Redis must be asked.
 */
export function checkId(parts: AdmissionParts, req: AdmissionRequest, now: number, h: Holdings, headers: RateLimitHeaders): IdCheck | AdmissionDecision | Promise<IdCheck | AdmissionDecision> {
  const fp = req.fingerprint;
  const recalled = parts.marks.recall(req.tenantId, req.eventId, now);
  const local = decide(recalled, fp);
  if (local === 'conflict') return conflict(req.eventId, headers);
  if (local === 'retry') return RETRY;
  if (fp === undefined) return NEW;
  return claimId(parts, req, fp, h, headers);
}

const NEW: IdCheck = { duplicate: false };
const RETRY: IdCheck = { duplicate: true };

async function claimId(parts: AdmissionParts, req: AdmissionRequest, fp: string, h: Holdings, headers: RateLimitHeaders): Promise<IdCheck | AdmissionDecision> {
  let prior: string;
  try {
    prior = await parts.marks.claim(req.tenantId, req.eventId, fp);
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err;
    parts.guard.degraded('idempotency');
    // Whatever the failure mode: a client-chosen id that cannot be checked is not served. Admitted
    // as new, another replica could serve a different request under the same id, and metering
    // would bill only one of them (issue 17.2). Requests without an id are still served fail-open.
    return unavailable('request ids cannot be checked right now; retry shortly (a request without an "id" is not affected)');
  }
  // Another request's mark is not remembered locally: if that request fails its mark goes, and
  // only Redis would know.
  const verdict = decide(prior, fp);
  if (verdict === 'conflict') return conflict(req.eventId, headers);
  if (verdict === 'new') h.ownsMark = true;
  return verdict === 'retry' ? RETRY : NEW;
}

/**
 * Reserves hard requests/items units (recorded in h.charges) and checks hard compute limits
 * (counters recorded in h.compute, charged on release). A retried id is not charged again.
 * Returns the quota that is used up, if any.
 */
export async function chargeQuotas(
  parts: AdmissionParts,
  req: AdmissionRequest,
  l: EffectiveLimits,
  scopes: LimitScope[],
  at: { now: number; duplicate: boolean },
  h: Holdings,
): Promise<{ counter: Counter; scope: LimitScope } | undefined> {
  const period = parts.periodFor(l, at.now);
  for (const s of scopes) {
    for (const c of parts.scopeCounters(s, req.tenantId, period)) {
      const q = c.spec;
      if (q.def.chargedAt === 'admission') {
        const units = unitsOfRecord(q.def, { ok: true, items: req.items, computeUs: 0, device: req.device });
        if (at.duplicate || units === 0) continue;
        if (c.leased) {
          const ok0 = parts.counters.reserve(c, units, h.minute);
          if (!(isPromise(ok0) ? await ok0 : ok0)) return { counter: c, scope: s };
        } else parts.counters.record(c, units, h.minute);
        h.charges.push({ counter: c, units });
      } else {
        // A hard compute limit refuses only requests that would run on its device.
        if (q.hard && q.def.device === deviceClass(req.device)) {
          const ok0 = parts.counters.check(c);
          if (!(isPromise(ok0) ? await ok0 : ok0)) return { counter: c, scope: s };
        }
        h.compute.push(c);
      }
    }
  }
  return undefined;
}

/**
 * The ticket of an admitted request. A new id is remembered in this process; a fingerprinted one
 * this admission marked is owned by the ticket, one without a fingerprint is marked in the
 * background (a late "already marked" refunds it).
 */
export function issueTicket(parts: AdmissionParts, req: AdmissionRequest, h: Holdings, now: number, duplicate: boolean): Ticket {
  const ticket = new Ticket(parts, req, h, duplicate);
  if (!duplicate) {
    parts.marks.remember(req.tenantId, req.eventId, req.fingerprint ?? NO_FINGERPRINT, now);
    if (h.ownsMark) ticket.mark = 'owned';
    else if (req.fingerprint === undefined && parts.guard.up) ticket.markInBackground();
  }
  return ticket;
}
