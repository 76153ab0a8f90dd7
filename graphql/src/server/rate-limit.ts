/**
 * Per-tenant token bucket on the GraphQL API, in Redis (shared by every API replica). One Lua
 * script call per request: refill by elapsed time, take one token or report the wait.
 * If Redis is unreachable the API stays up (fail open) and logs once per failure burst.
 */
import type { Redis } from 'ioredis';

const SCRIPT = `
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', key, 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
local elapsed = math.max(0, now - ts)
tokens = math.min(burst, tokens + elapsed * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
`;

export interface RateLimiter {
  /** Takes one token for `bucket`; returns the wait in ms when none is left. */
  take(bucket: string): Promise<{ allowed: boolean; retryAfterMs: number }>;
}

export function createRedisRateLimiter(deps: { redis: Redis; keyPrefix: string; perSecond: number; burst: number; onError?: (err: unknown) => void }): RateLimiter {
  return {
    async take(bucket) {
      try {
        const [allowed, wait] = (await deps.redis.eval(SCRIPT, 1, `${deps.keyPrefix}:${bucket}`, deps.perSecond, deps.burst, Date.now())) as [number, number];
        return { allowed: allowed === 1, retryAfterMs: Number(wait) };
      } catch (err) {
        deps.onError?.(err);
        return { allowed: true, retryAfterMs: 0 };
      }
    },
  };
}
