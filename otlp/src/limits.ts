/**
 * Per-tenant intake limits of the OTLP receiver (issue 17.9): a token bucket per tenant for
 * spans and one for bytes, in this process. One tenant's flood is answered 429 with Retry-After
 * (OTLP exporters back off) and never takes another tenant's — or Tollgate's own — share.
 */
export class TenantBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    private readonly maxTenants = 10_000,
  ) {}

  /** Takes `n` tokens for `tenant`, or returns the seconds to wait (nothing taken). */
  take(tenant: string, n: number, now = Date.now()): number {
    let b = this.buckets.get(tenant);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(tenant, b);
      if (this.buckets.size > this.maxTenants) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    // A request larger than the burst could never pass: let it through a full bucket, so the limit is a rate, not a size cap.
    const need = Math.min(n, this.burst);
    if (b.tokens >= need) {
      b.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil((need - b.tokens) / this.perSecond));
  }
}
