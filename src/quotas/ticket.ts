/**
 * The ticket an admitted request holds until it finishes: `release` frees its concurrency slots,
 * charges its compute, settles its items, and — when it failed — refunds its quota units and gives
 * its request id back, wherever its mark is at that moment.
 */
import type { MarkListener, QueuedMark } from '../idempotency/index.js';
import { NO_FINGERPRINT } from '../idempotency/index.js';
import type { AdmissionRequest, AdmissionTicket } from './contract.js';
import type { AdmissionParts } from './admission-parts.js';
import { refund, releaseSlots, type Holdings } from './holdings.js';
import { unitsOfRecord } from '../metering/index.js';

/**
 * Where this ticket's idempotency mark is: none; queued in the background batch; sent and not
 * answered yet; set by this ticket (owned); another request's (other); unknown (the call failed).
 */
export type MarkState = 'none' | 'queued' | 'sent' | 'owned' | 'other' | 'unknown';

export class Ticket implements AdmissionTicket, MarkListener {
  mark: MarkState = 'none';
  private queued: QueuedMark | null = null;
  private released = false;
  private failed = false;
  private refunded = false;

  constructor(
    private readonly parts: AdmissionParts,
    private readonly req: AdmissionRequest,
    private readonly h: Holdings,
    private duplicate: boolean,
  ) {}

  /** A request without a fingerprint: charged now, marked within 10 ms; a late "seen" refunds it. */
  markInBackground(): void {
    this.mark = 'queued';
    this.queued = this.parts.marks.markLater(this.req.tenantId, this.req.eventId, NO_FINGERPRINT, this);
  }

  onMark(old: string | null): void {
    this.queued = null;
    if (old === null) this.mark = 'unknown';
    else if (old === '') this.mark = 'owned';
    else {
      // Another process already charged this event id: give back what this admission charged.
      this.mark = 'other';
      this.duplicate = true;
      this.refundOnce();
    }
    // The request failed while its mark was in flight: the mark must not outlive it.
    if (this.failed) this.dropMark();
  }

  private refundOnce(): void {
    if (this.refunded) return;
    this.refunded = true;
    refund(this.parts, this.h.charges, this.h.minute);
  }

  /** Failed request: its mark goes, wherever it is, so a retry counts as a new request. */
  private dropMark(): void {
    if (this.mark === 'queued' && this.queued) {
      // Still in the pending batch: take it out (never sent, nothing to delete). Already sent:
      // onMark calls back here once the answer arrives.
      if (this.queued.sent) this.mark = 'sent';
      else {
        this.queued.cancelled = true;
        this.mark = 'none';
      }
    }
    if (this.mark === 'owned' || this.mark === 'unknown') {
      this.parts.marks.unmark(this.req.tenantId, this.req.eventId);
      this.mark = 'none';
    }
  }

  release(outcome: { computeUs: number; items: number; ok: boolean; device?: 'cpu' | 'cuda' }): void {
    if (this.released) return;
    this.released = true;
    releaseSlots(this.parts, this.h.slots);
    // Compute the request caused is used, whether the run succeeded or not (and a retry that ran
    // again used it again): it counts against the compute quota (issue 17.3).
    this.chargeCompute(outcome);
    if (this.duplicate) return;
    if (!outcome.ok) {
      // A failed request's request/item units are given back; a retry of it must be charged.
      this.failed = true;
      this.refundOnce();
      this.parts.marks.forget(this.req.tenantId, this.req.eventId);
      this.dropMark();
      return;
    }
    this.settleItems(outcome.items);
  }

  private chargeCompute(outcome: { computeUs: number; ok: boolean; device?: 'cpu' | 'cuda' }): void {
    const us = Math.max(0, Math.round(outcome.computeUs));
    if (us === 0) return;
    const facts = { ok: outcome.ok, items: 0, computeUs: us, device: outcome.device };
    for (const held of this.h.compute) {
      const units = unitsOfRecord(held.spec.def, facts);
      if (units === 0) continue;
      // A long run can outlast its counter (retired from the registry while idle): charge the live one.
      const s = held.spec;
      const c = held.retired ? this.parts.counters.counter(s.scope, s, { tenantId: s.tenantId, apiKeyId: s.apiKeyId, period: s.period }) : held;
      this.parts.counters.record(c, units, this.h.minute);
    }
  }

  /** The items the request turned out to have, against the items it was admitted with. */
  private settleItems(items: number): void {
    if (items === this.req.items) return;
    const admitted = { ok: true, items: this.req.items, computeUs: 0, device: this.req.device };
    const actual = { ...admitted, items };
    for (const ch of this.h.charges) {
      const delta = unitsOfRecord(ch.counter.spec.def, actual) - unitsOfRecord(ch.counter.spec.def, admitted);
      if (delta === 0) continue;
      this.parts.counters.record(ch.counter, delta, this.h.minute);
      ch.units += delta; // a late duplicate verdict refunds what was actually charged
    }
  }
}
