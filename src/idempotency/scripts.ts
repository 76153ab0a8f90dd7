/**
 * The Lua scripts behind the marks (key layout: keys.ts). Each handles a batch of keys in one
 * call and is atomic per key, so concurrent replicas agree on who used an id first.
 */
import { luaScript } from '../shared/index.js';

/**
 * Admission: binds each id to a fingerprint unless it already has one. KEYS: marks; ARGV[1]: the
 * window (s); ARGV[1 + i]: the fingerprint for KEYS[i]. Returns per key the fingerprint it already
 * had, or '' where this call set it.
 */
export const claimScript = luaScript(`
local out = {}
for i = 1, #KEYS do
  local old = redis.call('HGET', KEYS[i], 'fp')
  if old then
    out[i] = old
  else
    redis.call('HSET', KEYS[i], 'fp', ARGV[i + 1])
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    out[i] = ''
  end
end
return out
`);

/** Admission: a failed request gives its id back (metering's field, if any, stays). KEYS[1]: the mark. */
export const releaseScript = luaScript(`
redis.call('HDEL', KEYS[1], 'fp')
return 1
`);

/**
 * Metering: records which WAL record delivered each id. KEYS: marks; ARGV[1]: the window (s);
 * ARGV[1 + i]: the record's uid. Returns per key 1 = first delivery, 2 = this very record again
 * (replayed after a crash), 0 = another record already delivered the id (a retry).
 */
export const deliverScript = luaScript(`
local out = {}
for i = 1, #KEYS do
  local uid = ARGV[i + 1]
  local old = redis.call('HGET', KEYS[i], 'uid')
  if not old then
    redis.call('HSET', KEYS[i], 'uid', uid)
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    out[i] = 1
  elseif old == uid then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
`);
