/**
 * The Stripe client: the real SDK pointed at STRIPE_API_URL (protocol, host and port), and the
 * one retry policy every Stripe call goes through. The SDK's own retries are off (it neither
 * retries a 429 nor honours Retry-After); `callStripe` retries 5xx, 429 (waiting Retry-After)
 * and network errors/timeouts with exponential backoff. Every write carries a deterministic
 * idempotency key, so a retry after a lost answer replays the first result instead of writing twice.
 */
import Stripe from 'stripe';
import type { Config } from '../config/index.js';
import type { Logger } from '../shared/index.js';

export type StripeConfig = Pick<Config, 'STRIPE_SECRET_KEY' | 'STRIPE_API_URL' | 'STRIPE_TIMEOUT_MS' | 'STRIPE_MAX_RETRIES' | 'STRIPE_RETRY_BASE_MS'>;

/** The SDK's host/port/protocol options for an API base URL. */
export function stripeSdkOptions(apiUrl: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const u = new URL(apiUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`STRIPE_API_URL must be http(s): ${apiUrl}`);
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { host: u.hostname, port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443, protocol };
}

/** The SDK client, or null when no secret key is configured (sync is off). */
export function createStripeClient(config: StripeConfig): Stripe | null {
  if (!config.STRIPE_SECRET_KEY) return null;
  return new Stripe(config.STRIPE_SECRET_KEY, {
    ...stripeSdkOptions(config.STRIPE_API_URL),
    maxNetworkRetries: 0,
    timeout: config.STRIPE_TIMEOUT_MS,
    appInfo: { name: 'tollgate' },
  });
}

/** Whether sync is on; when off, logs one line naming the setting (call it once, at the worker's start). */
export function stripeSyncEnabled(config: Pick<Config, 'STRIPE_SECRET_KEY'>, logger: Pick<Logger, 'info'>): boolean {
  if (config.STRIPE_SECRET_KEY) return true;
  logger.info('stripe sync is off: STRIPE_SECRET_KEY is not set');
  return false;
}

export interface RetryPolicy {
  retries: number;
  baseMs: number;
  /** Longest single wait (a hostile Retry-After must not park a worker for hours). */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (info: { attempt: number; waitMs: number; reason: string }) => void;
}

export function retryPolicy(config: StripeConfig, extra: Partial<RetryPolicy> = {}): RetryPolicy {
  return { retries: config.STRIPE_MAX_RETRIES, baseMs: config.STRIPE_RETRY_BASE_MS, ...extra };
}

/** Whether a Stripe error may succeed when the same request (same idempotency key) is sent again. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Stripe.errors.StripeError)) return false;
  if (err instanceof Stripe.errors.StripeConnectionError) return true; // timeouts, resets, lost answers
  if (err instanceof Stripe.errors.StripeRateLimitError) return true;
  if (err.statusCode === 409) return true; // the same idempotency key still in flight
  return (err.statusCode ?? 0) >= 500;
}

function retryAfterMs(err: unknown): number | null {
  const h = (err as { headers?: Record<string, string> }).headers?.['retry-after'];
  if (!h) return null;
  const s = Number(h);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : null;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one Stripe request, retrying what may succeed on a resend; the last error is thrown as is. */
export async function callStripe<T>(policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  const sleep = policy.sleep ?? defaultSleep;
  const maxWait = policy.maxWaitMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.retries || !isTransient(err)) throw err;
      const backoff = policy.baseMs * 2 ** attempt * (0.5 + Math.random() / 2);
      const waitMs = Math.min(maxWait, Math.max(retryAfterMs(err) ?? 0, backoff));
      policy.onRetry?.({ attempt: attempt + 1, waitMs, reason: (err as Error).message });
      await sleep(waitMs);
    }
  }
}
