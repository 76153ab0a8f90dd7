/**
 * The failed-credential limiter in front of the database (issue 17.10). Only API-key lookups
 * that reach Postgres are metered (a cached key, a cached unknown secret and a malformed one cost
 * nothing); each such lookup of a credential not known to be good takes a slot from its source
 * address's window and from the global window, atomically in Redis (so a concurrent burst cannot
 * overshoot). A lookup that finds a live key gives its slots back and marks the key's hash as
 * known-good for a day: from then on it passes even while its address or the whole deployment is
 * limited — a valid key is never locked out by someone else's guessing. Past a limit, unknown
 * credentials get 429 with Retry-After (the window's remaining time) and no database lookup; this
 * replica also remembers the refusal until then, so a flood costs no Redis call either.
 * Redis unreachable: the same windows per process (logged), never open.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/index.js';
import { AppError, redisKey, type Logger } from '../shared/index.js';
import type { LookupGuard } from './principal.js';

const ADMIT = `
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return {1, 0} end
local win = tonumber(ARGV[3])
local ip = tonumber(redis.call('GET', KEYS[1]) or '0')
if ip >= tonumber(ARGV[1]) then return {0, redis.call('PTTL', KEYS[1]), 1} end
local g = tonumber(redis.call('GET', KEYS[2]) or '0')
if g >= tonumber(ARGV[2]) then return {0, redis.call('PTTL', KEYS[2]), 2} end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], win) end
end
return {2, 0}
`;

const SETTLE_FOUND = `
if ARGV[2] == '1' then
  for i = 1, 2 do
    if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
  end
end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
return 1
`;

export type FailedAuthConfig = Pick<Config, 'REDIS_PREFIX' | 'AUTH_FAILURES_PER_IP' | 'AUTH_FAILURES_GLOBAL' | 'AUTH_FAILURE_WINDOW_SECONDS'>;

export interface FailedAuthLimiter {
  /** The guard for one request's API-key lookup, from its source address. */
  guardFor(ip: string): LookupGuard;
}

const KNOWN_GOOD_SECONDS = 86_400;

export function createFailedAuthLimiter(deps: { redis: Redis | null; config: FailedAuthConfig; log?: Pick<Logger, 'warn'>; namespace?: string }): FailedAuthLimiter {
  const { config } = deps;
  const windowMs = config.AUTH_FAILURE_WINDOW_SECONDS * 1000;
  const base = redisKey(config, 'authfail', ...(deps.namespace ? [deps.namespace] : []));
  const blockedUntil = new Map<string, number>(); // ip or '*' -> epoch ms, this replica's memory of a refusal
  const local = new Map<string, { n: number; until: number }>(); // fallback windows while Redis is down
  let warned = 0;

  function refuse(ms: number, scope: 'address' | 'global'): never {
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    throw new AppError(
      'RATE_LIMITED',
      scope === 'address'
        ? `too many failed credentials from this address; retry after ${seconds} s`
        : `too many failed credentials across the service; unknown credentials are refused for ${seconds} s`,
      { limit: 'failed_auth', retryAfterSeconds: seconds },
    );
  }

  function remembered(ip: string): void {
    const now = Date.now();
    for (const [k, scope] of [[ip, 'address'], ['*', 'global']] as const) {
      const until = blockedUntil.get(k);
      if (until === undefined) continue;
      if (until > now) refuse(until - now, scope);
      blockedUntil.delete(k);
    }
  }

  function localAdmit(ip: string): boolean {
    const now = Date.now();
    const take = (k: string, limit: number): number => {
      let w = local.get(k);
      if (!w || w.until <= now) local.set(k, (w = { n: 0, until: now + windowMs }));
      return w.n >= limit ? w.until - now : (w.n++, 0);
    };
    const wait = take(ip, config.AUTH_FAILURES_PER_IP) || take('*', config.AUTH_FAILURES_GLOBAL);
    if (wait > 0) refuse(wait, 'address');
    if (local.size > 10_000) for (const [k, w] of local) if (w.until <= now) local.delete(k);
    return true;
  }

  return {
    guardFor(ip) {
      const ipKey = `${base}:ip:${ip}`;
      const globalKey = `${base}:global`;
      return async (hash) => {
        // A known-good hash may pass a remembered refusal: ask Redis, which knows.
        const goodKey = `${base}:good:${hash.slice(0, 32)}`;
        if (!deps.redis) {
          localAdmit(ip);
          return { settle: () => undefined };
        }
        let verdict: [number, number, number?];
        try {
          try {
            remembered(ip);
          } catch (refusal) {
            if ((await deps.redis.exists(goodKey)) !== 1) throw refusal;
            return { settle: () => undefined };
          }
          verdict = (await deps.redis.eval(ADMIT, 3, ipKey, globalKey, goodKey, config.AUTH_FAILURES_PER_IP, config.AUTH_FAILURES_GLOBAL, windowMs)) as [number, number, number?];
        } catch (err) {
          if (err instanceof AppError) throw err;
          if (Date.now() - warned > 60_000) {
            warned = Date.now();
            deps.log?.warn({ err: (err as Error).message }, 'failed-auth limiter: Redis unreachable, limiting per process');
          }
          localAdmit(ip);
          return { settle: () => undefined };
        }
        const [state, pttl, which] = verdict;
        if (state === 0) {
          const ms = pttl > 0 ? pttl : windowMs;
          const scope = which === 1 ? 'address' : 'global';
          blockedUntil.set(scope === 'address' ? ip : '*', Date.now() + ms);
          if (blockedUntil.size > 10_000) blockedUntil.delete(blockedUntil.keys().next().value as string);
          refuse(ms, scope);
        }
        const charged = state === 2;
        return {
          settle(found) {
            if (!found || !deps.redis) return;
            // Found: the slots go back and the key is known-good (also when it passed uncharged, to extend the mark).
            void deps.redis.eval(SETTLE_FOUND, 3, ipKey, globalKey, goodKey, KNOWN_GOOD_SECONDS, charged ? '1' : '0').catch(() => undefined);
          },
        };
      };
    },
  };
}
