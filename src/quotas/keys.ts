/** Redis key names for admission state; every key starts with `<REDIS_PREFIX>:quota:`. */
import { meterDefinition } from '../metering/index.js';
import { limitsChangedChannel } from '../plans/index.js';
import type { Meter } from './types.js';

export interface QuotaKeys {
  rate(scope: string): string;
  concurrency(scope: string): string;
  used(scope: string, meter: Meter, period: string): string;
  lease(scope: string, meter: Meter, period: string): string;
  notified(scope: string, meter: Meter, period: string, threshold: number): string;
  /** Pub/sub channel announcing a tenant's limits changed (message: tenant id). */
  limitsChannel: string;
  /** Pub/sub channel on which processes ask each other for idle leases (reclaim.ts). */
  reclaimChannel: string;
}

export function quotaKeys(prefix: string): QuotaKeys {
  const base = `${prefix}:quota`;
  return {
    rate: (scope) => `${base}:rl:${scope}`,
    concurrency: (scope) => `${base}:cc:${scope}`,
    used: (scope, meter, period) => `${base}:q:${scope}:${meter}:${period}`,
    lease: (scope, meter, period) => `${base}:ql:${scope}:${meter}:${period}`,
    notified: (scope, meter, period, threshold) => `${base}:nt:${scope}:${meter}:${period}:${threshold}`,
    limitsChannel: limitsChangedChannel(prefix),
    reclaimChannel: `${base}:reclaim`,
  };
}

/** Scope ids: a tenant, or one API key of a tenant (keys with their own caps). */
export const tenantScope = (tenantId: string) => `t:${tenantId}`;
export const keyScope = (tenantId: string, apiKeyId: string) => `k:${tenantId}:${apiKeyId}`;

/** Compute meters are limited in milliseconds but counted in microseconds, exactly as metered. */
export const unitScale = (meter: Meter): number => meterDefinition(meter).scale;
