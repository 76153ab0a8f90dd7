/**
 * Recently marked (tenant, request id) pairs in this process with their fingerprints, bounded in
 * size and age: two generations of per-tenant Maps (O(1) everything, no key concatenation, no scans).
 */
import { NO_FINGERPRINT } from './decision.js';

type Seen = number | { at: number; value: string }; // a bare timestamp: no fingerprint (nothing to allocate)

export class SeenIds {
  private current = new Map<string, Map<string, Seen>>();
  private previous = new Map<string, Map<string, Seen>>();
  private size = 0;
  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  get(tenantId: string, eventId: string, now: number): string | undefined {
    const e = this.current.get(tenantId)?.get(eventId) ?? this.previous.get(tenantId)?.get(eventId);
    if (e === undefined) return undefined;
    if (typeof e === 'number') return now - e < this.ttlMs ? NO_FINGERPRINT : undefined;
    return now - e.at < this.ttlMs ? e.value : undefined;
  }

  add(tenantId: string, eventId: string, value: string, now: number): void {
    if (this.size >= this.max / 2) {
      this.previous = this.current;
      this.current = new Map();
      this.size = 0;
    }
    let m = this.current.get(tenantId);
    if (!m) this.current.set(tenantId, (m = new Map()));
    m.set(eventId, value === NO_FINGERPRINT ? now : { at: now, value });
    this.size++;
  }

  delete(tenantId: string, eventId: string): void {
    this.current.get(tenantId)?.delete(eventId);
    this.previous.get(tenantId)?.delete(eventId);
  }
}
