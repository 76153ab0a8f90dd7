/**
 * The one Redis key per (tenant, request id): a hash `<REDIS_PREFIX>:idem:<tenant>:<id>` with
 *   fp  = the fingerprint admission bound the id to ('1' without one), and
 *   uid = the WAL record (`walId:segment:offset`) metering delivered for it.
 * Writing a field (re)sets the key's expiry to the idempotency window, so the key lives one
 * window past its last new field: admission's mark never expires before metering's.
 */
export interface IdempotencyKeys {
  mark(tenantId: string, eventId: string): string;
}

export function idempotencyKeys(prefix: string): IdempotencyKeys {
  const base = `${prefix}:idem`;
  return { mark: (tenantId, eventId) => `${base}:${tenantId}:${eventId}` };
}
