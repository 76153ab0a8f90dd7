/**
 * The Lua scripts that make shared admission state atomic in Redis. Each replica *leases*
 * small batches (tokens, concurrency slots, quota units) with one script call and spends
 * them locally, so the hot path needs no round trip while the replicas together never take
 * more than the limit: a unit is removed from Redis before any replica can spend it.
 *
 * Key layout (all under `<REDIS_PREFIX>:quota:`):
 *   rl:<scope>                 hash  t = tokens (float), ts = last refill (ms)
 *   cc:<scope>                 hash  <proc> = slots held, x:<proc> = lease expiry (ms)
 *   q:<scope>:<meter>:<period> hash  total = used (base + recent), base, rc = reconciled-up-to minute, m:<minute> = recent use
 *   ql:<scope>:<meter>:<period> hash <proc> = units leased, x:<proc> = lease expiry (ms)
 * A crashed replica's leases expire (x:<proc>) so its slots and units come back.
 */
import { luaScript as script, runScript, type Script } from '../shared/index.js';

export { runScript, type Script };

// Removes expired per-process leases from a lease hash; returns the sum of the live ones.
const SWEEP = `
local function int(x) return string.format('%d', x) end
local function sweep(key, now)
  local all = redis.call('HGETALL', key)
  local held = {}
  local expiry = {}
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 'x:' then expiry[string.sub(f, 3)] = tonumber(all[i + 1]) else held[f] = tonumber(all[i + 1]) end
  end
  local sum = 0
  for proc, n in pairs(held) do
    local x = expiry[proc]
    if x == nil or x < now then
      redis.call('HDEL', key, proc, 'x:' .. proc)
    else
      sum = sum + n
    end
  end
  return sum
end
`;

/**
 * Token bucket take. KEYS[1] rl:<scope>. ARGV: rate (tokens/s), burst, now (ms), need (tokens
 * for requests waiting now: as many as the bucket has), extra (a lease for the next ones: only
 * what the bucket holds above half its size, so leases parked in one replica never leave another
 * short while the bucket is low), key ttl (ms).
 * Returns { granted (need part + extra part), tokens left (string: floats do not survive the reply) }.
 */
export const rateTake = script(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local extra = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then tokens = tokens + (now - ts) * rate / 1000; ts = now end
if tokens > burst then tokens = burst end
local grant = math.floor(tokens)
if grant > need then grant = need end
if grant < 0 then grant = 0 end
tokens = tokens - grant
local spare = math.floor(tokens - burst / 2)
if extra > spare then extra = spare end
if extra > 0 then
  tokens = tokens - extra
  grant = grant + extra
end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return { grant, string.format('%.6f', tokens) }
`);

/** Returns unspent tokens to a bucket (capped at burst). KEYS[1] rl:<scope>. ARGV: n, burst. */
export const rateGiveBack = script(`
local t = tonumber(redis.call('HGET', KEYS[1], 't'))
if t == nil then return 0 end
t = t + tonumber(ARGV[1])
if t > tonumber(ARGV[2]) then t = tonumber(ARGV[2]) end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', t))
return 1
`);

/**
 * Concurrency slots. KEYS[1] cc:<scope>. ARGV: max, proc, delta (slots to take, or negative to
 * give back), now (ms), lease ttl (ms). Takes as many of `delta` as fit; returns { delta applied, held by proc, held by all }.
 */
export const concurrencyAdjust = script(
  SWEEP +
    `
local max = tonumber(ARGV[1])
local proc = ARGV[2]
local delta = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local total = sweep(KEYS[1], now)
local mine = tonumber(redis.call('HGET', KEYS[1], proc) or '0')
if delta > 0 then
  local room = max - total
  if room < 0 then room = 0 end
  if delta > room then delta = room end
end
if mine + delta < 0 then delta = -mine end
mine = mine + delta
total = total + delta
if mine > 0 then
  redis.call('HSET', KEYS[1], proc, int(mine), 'x:' .. proc, int(now + tonumber(ARGV[5])))
else
  redis.call('HDEL', KEYS[1], proc, 'x:' .. proc)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]) * 4)
return { delta, mine, total }
`,
);

/**
 * Quota sync and lease. KEYS[1] q:..., KEYS[2] ql:... ARGV: proc, now (ms), lease ttl (ms),
 * limit (-1 = no lease wanted), need, want, leased (1 when the deltas were spent from this
 * proc's lease), key ttl (ms), then pairs (minute, delta) of use since the last sync.
 * Use is recorded per minute so reconciliation can replace everything before a cutoff with
 * ClickHouse's count; deltas for minutes already reconciled only release the lease.
 * Grants are all-or-nothing for `need` and shrink to a quarter of what is left near the limit,
 * so replicas do not strand units in each other's leases.
 * Returns { granted, total used, leased by all }.
 */
export const quotaSync = script(
  SWEEP +
    `
local proc = ARGV[1]
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local need = tonumber(ARGV[5])
local want = tonumber(ARGV[6])
local leased = ARGV[7] == '1'
local keyTtl = tonumber(ARGV[8])
local rc = tonumber(redis.call('HGET', KEYS[1], 'rc') or '0')
local spent = 0
for i = 9, #ARGV, 2 do
  local minute = tonumber(ARGV[i])
  local d = tonumber(ARGV[i + 1])
  spent = spent + d
  if minute >= rc then
    redis.call('HINCRBY', KEYS[1], 'm:' .. ARGV[i], ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], 'total', ARGV[i + 1])
  end
end
if leased and spent ~= 0 then
  local mine = tonumber(redis.call('HGET', KEYS[2], proc) or '0') - spent
  if mine < 0 then mine = 0 end
  redis.call('HSET', KEYS[2], proc, int(mine), 'x:' .. proc, int(now + ttl))
end
local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
local leasedAll = sweep(KEYS[2], now)
local grant = 0
if limit >= 0 and want > 0 then
  local avail = limit - total - leasedAll
  if avail >= need then
    local share = math.ceil(avail / 4)
    if share < need then share = need end
    grant = want
    if grant > share then grant = share end
    if grant > avail then grant = avail end
  end
  if grant > 0 then
    redis.call('HINCRBY', KEYS[2], proc, int(grant))
    leasedAll = leasedAll + grant
  end
end
if redis.call('HEXISTS', KEYS[2], proc) == 1 then redis.call('HSET', KEYS[2], 'x:' .. proc, int(now + ttl)) end
redis.call('PEXPIRE', KEYS[1], keyTtl)
redis.call('PEXPIRE', KEYS[2], keyTtl)
return { grant, total, leasedAll }
`,
);

/** Gives back unspent leased units. KEYS[1] ql:... ARGV: proc, n. */
export const quotaGiveBack = script(`
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') - tonumber(ARGV[2])
if mine <= 0 then redis.call('HDEL', KEYS[1], ARGV[1], 'x:' .. ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', mine)) end
return 1
`);

/**
 * Reconciliation. KEYS[1] q:... ARGV: cutoff minute, used before the cutoff (from ClickHouse),
 * key ttl (ms). Replaces every per-minute count before the cutoff with ClickHouse's figure; keeps
 * later minutes (ClickHouse may not have them yet). Returns { previous total, new total }.
 */
export const quotaReconcile = script(`
local cutoff = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local rc = tonumber(redis.call('HGET', KEYS[1], 'rc') or '0')
local before = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
if cutoff < rc then return { before, before } end
local all = redis.call('HGETALL', KEYS[1])
local recent = 0
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == 'm:' then
    if tonumber(string.sub(f, 3)) < cutoff then redis.call('HDEL', KEYS[1], f) else recent = recent + tonumber(all[i + 1]) end
  end
end
local total = base + recent
redis.call('HSET', KEYS[1], 'total', string.format('%d', total), 'base', string.format('%d', base), 'rc', string.format('%d', cutoff))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return { before, total }
`);
