/** The refusals admission answers with, and the IETF RateLimit headers every decision carries. */
import type { AdmissionDecision, RateLimitHeaders } from './contract.js';
import type { Counter } from './quota-counter.js';
import type { RateCheck } from './rate-limiter.js';
import type { ScopeLimits } from './types.js';

/** The scope a limit belongs to: the tenant, or one of its API keys (with its own caps). */
export interface LimitScope {
  id: string;
  apiKeyId: string | undefined;
  limits: ScopeLimits;
}

const scopeName = (s: LimitScope) => (s.apiKeyId ? 'api_key' : 'tenant');

/** IETF draft-ietf-httpapi-ratelimit-headers (RateLimit-Limit/-Remaining/-Reset + RateLimit-Policy). */
export function rateHeaders(r: RateCheck | undefined): RateLimitHeaders {
  if (!r) return {};
  return {
    'RateLimit-Limit': String(r.limit),
    'RateLimit-Remaining': String(r.remaining),
    'RateLimit-Reset': String(r.resetSeconds),
    'RateLimit-Policy': `${r.limit};w=${r.windowSeconds}`,
  };
}

export function unavailable(message: string): AdmissionDecision {
  return { allowed: false, status: 503, code: 'UNAVAILABLE', message, headers: { 'Retry-After': '1' }, retryAfterSeconds: 1 };
}

/** 429 for the request rate: the refusing bucket's headers (`RateLimit-Remaining: 0`). */
export function rateLimited(r: RateCheck, s: LimitScope): AdmissionDecision {
  return {
    allowed: false,
    status: 429,
    code: 'RATE_LIMITED',
    message: `request rate limit exceeded (${s.limits.rate?.rps}/s, burst ${s.limits.rate?.burst}${s.apiKeyId ? ', this API key' : ''}); retry after ${r.retryAfterSeconds} s`,
    headers: { ...rateHeaders(r), 'Retry-After': String(r.retryAfterSeconds) },
    retryAfterSeconds: r.retryAfterSeconds,
    details: { limit: 'rate', scope: scopeName(s) },
  };
}

/** 429 for requests in flight; the RateLimit headers still describe the (unspent) rate policy. */
export function tooManyConcurrent(s: LimitScope, headers: RateLimitHeaders): AdmissionDecision {
  return {
    allowed: false,
    status: 429,
    code: 'RATE_LIMITED',
    message: `too many concurrent requests (limit ${s.limits.concurrency}${s.apiKeyId ? ' for this API key' : ''})`,
    headers: { ...headers, 'Retry-After': '1' },
    retryAfterSeconds: 1,
    details: { limit: 'concurrency', max: s.limits.concurrency, scope: scopeName(s) },
  };
}

export function quotaExhausted(c: Counter, s: LimitScope, headers: RateLimitHeaders, now: number): AdmissionDecision {
  const spec = c.spec;
  const resetSeconds = Math.max(1, Math.ceil((spec.period.end.getTime() - now) / 1000));
  const who = s.apiKeyId ? 'this API key' : 'the tenant';
  return {
    allowed: false,
    status: 402,
    code: 'QUOTA_EXHAUSTED',
    message: `monthly ${spec.meter} quota of ${spec.limit} for ${who} is used up; it resets at ${spec.period.end.toISOString()}`,
    headers: { ...headers, 'RateLimit-Limit': String(spec.limit), 'RateLimit-Remaining': '0', 'RateLimit-Reset': String(resetSeconds), 'Retry-After': String(resetSeconds) },
    retryAfterSeconds: resetSeconds,
    details: { meter: spec.meter, limit: spec.limit, used: Math.floor(c.used / spec.scale), resetAt: spec.period.end.toISOString(), scope: scopeName(s) },
  };
}

export function conflict(eventId: string, headers: RateLimitHeaders): AdmissionDecision {
  return { allowed: false, status: 409, code: 'CONFLICT', message: `request id "${eventId}" was already used for a different request`, headers, details: { reason: 'request_id_reused' } };
}
