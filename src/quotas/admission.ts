/**
 * Admission control before any compute: rate limit, concurrency cap and monthly quotas for the
 * tenant and (when it has its own caps) the API key, with IETF RateLimit headers.
 *
 * Every check spends from process-local leases of shared Redis state (see rate-limiter.ts,
 * concurrency.ts, quota-counter.ts), so an admitted request normally costs microseconds and
 * no round trip, while all processes together stay within each limit. The steps are in
 * admission-steps.ts, the long-lived pieces in admission-parts.ts, the ticket in ticket.ts.
 */
import type { Admission, AdmissionDecision, AdmissionRequest } from './contract.js';
import { createAdmissionParts, type AdmissionConfig, type AdmissionDeps } from './admission-parts.js';
import { checkId, chargeQuotas, isPromise, issueTicket, limitsOf, scopesOf, takeSlots, takeTokens } from './admission-steps.js';
import { quotaExhausted, tooManyConcurrent, unavailable } from './decisions.js';
import { giveBack, Holdings } from './holdings.js';
import { RedisUnavailableError } from './redis-guard.js';

export type { AdmissionConfig, AdmissionDeps };

export interface AdmissionService extends Admission {
  /** Sends pending idempotency marks and pushes local use to Redis now (tests, shutdown). */
  flush(): Promise<void>;
  /** Drops cached limits of a tenant in this process (pub/sub does this for every process). */
  invalidate(tenantId: string): void;
  close(): Promise<void>;
}

export function createAdmission(deps: AdmissionDeps): AdmissionService {
  const parts = createAdmissionParts(deps);
  const { clock } = parts;
  let closing: Promise<void> | undefined;

  async function admit(req: AdmissionRequest): Promise<AdmissionDecision> {
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

      // What the request is: its id (a retry is not charged, a reused id refused), its items.
      const now = clock();
      h.minute = Math.floor(now / 60_000);
      const id0 = checkId(parts, req, now, h, headers);
      const id = isPromise(id0) ? await id0 : id0;
      if ('allowed' in id) return refuse(id);
      const short = await chargeQuotas(parts, req, l, scopes, { now, duplicate: id.duplicate }, h);
      if (short) return refuse(quotaExhausted(short.counter, short.scope, headers, clock()));
      const ticket = issueTicket(parts, req, h, now, id.duplicate);
      return { allowed: true, headers, priority: l.priorityTier, weight: l.priorityTier, ticket };
    } catch (err) {
      giveBack(parts, h, req);
      if (err instanceof RedisUnavailableError) return unavailable('admission control is unavailable; try again shortly');
      throw err;
    }
  }

  return {
    admit,
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
