/**
 * Request bytes each tenant has in flight in this process, reserved from the declared
 * Content-Length before the body is read (issue 17.6): one tenant's large uploads cannot fill the
 * process's memory and parsing time while another tenant's small requests wait.
 */
export class InflightBytes {
  private readonly held = new Map<string, number>();
  constructor(readonly cap: number) {}

  /** Reserves `n` bytes for the tenant; false when that would pass the cap (one request alone always fits). */
  take(tenantId: string, n: number): boolean {
    const cur = this.held.get(tenantId) ?? 0;
    if (cur > 0 && cur + n > this.cap) return false;
    this.held.set(tenantId, cur + n);
    return true;
  }

  give(tenantId: string, n: number): void {
    const left = (this.held.get(tenantId) ?? 0) - n;
    if (left <= 0) this.held.delete(tenantId);
    else this.held.set(tenantId, left);
  }

  of(tenantId: string): number {
    return this.held.get(tenantId) ?? 0;
  }
}
