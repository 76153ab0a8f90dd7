/**
 * What one admission has taken so far — rate tokens, concurrency slots, quota units, its
 * idempotency mark — so that a refusal, at any step, gives back exactly that.
 */
import type { AdmissionRequest } from './contract.js';
import type { AdmissionParts } from './admission-parts.js';
import type { Counter } from './quota-counter.js';

/** Quota units reserved or recorded for a request (refunded if it is refused or fails). */
export interface Charge {
  counter: Counter;
  units: number;
}

export class Holdings {
  readonly tokens: Array<{ scope: string; degraded: boolean }> = [];
  readonly slots: string[] = [];
  readonly charges: Charge[] = [];
  /** Compute counters of the request's scopes, charged when it finishes. */
  readonly compute: Counter[] = [];
  /** This admission set the id's mark in Redis: a refusal removes it. */
  ownsMark = false;
  constructor(
    /** The minute use is recorded in (per-minute deltas). */
    public minute: number,
  ) {}
}

export function releaseSlots(parts: AdmissionParts, held: string[]): void {
  for (const id of held) parts.slots.release(id);
  held.length = 0;
}

export function refund(parts: AdmissionParts, charges: Charge[], minute: number): void {
  for (const ch of charges) parts.counters.refund(ch.counter, ch.units, minute, true);
  charges.length = 0;
}

/** Gives back everything a refused admission took. */
export function giveBack(parts: AdmissionParts, h: Holdings, req: Pick<AdmissionRequest, 'tenantId' | 'eventId'> | Pick<AdmissionRequest, 'tenantId'>): void {
  for (const t of h.tokens.splice(0)) parts.rates.refund(t.scope, t.degraded);
  releaseSlots(parts, h.slots);
  refund(parts, h.charges, h.minute);
  if (h.ownsMark && 'eventId' in req) parts.marks.unmark(req.tenantId, req.eventId);
  h.ownsMark = false;
}
