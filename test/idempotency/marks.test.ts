/**
 * The one idempotency owner against the real per-run Redis: `decide` is the rule; admission's
 * marks and metering's deliveries live on one key per (tenant, id), kept for the one window.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { createRedis } from '../../src/shared/index.js';
import { decide, idempotencyKeys, IdempotencyMarks, markDeliveries, NO_FINGERPRINT, type RedisRunner } from '../../src/idempotency/index.js';

const config = loadConfig();
const redis = createRedis(config);
const runner: RedisRunner = { up: true, run: (_what, fn) => fn(redis) };
const keys = idempotencyKeys(config.REDIS_PREFIX);
afterAll(() => redis.quit());

describe('decide', () => {
  it('new without an earlier use; retry for the same content or without fingerprints; conflict for other content', () => {
    expect(decide(undefined, 'a')).toBe('new');
    expect(decide('', 'a')).toBe('new');
    expect(decide('a', 'a')).toBe('retry');
    expect(decide('a', undefined)).toBe('retry');
    expect(decide(NO_FINGERPRINT, 'a')).toBe('retry');
    expect(decide('a', 'b')).toBe('conflict');
  });
});

describe('one key per (tenant, id)', () => {
  it("admission's fingerprint and metering's delivery share the key; the key lives one window past its last new field", async () => {
    const marks = new IdempotencyMarks({ redis: runner, prefix: config.REDIS_PREFIX, windowSeconds: 600 });
    const tenantId = randomUUID();
    const id = `req-${randomUUID()}`;
    expect(await marks.claim(tenantId, id, 'fp-1')).toBe('');
    expect(await marks.claim(tenantId, id, 'fp-2')).toBe('fp-1'); // another request: the caller decides 'conflict'
    const key = keys.mark(tenantId, id);
    expect(await redis.ttl(key)).toBeGreaterThan(590);
    await redis.expire(key, 100);
    const opts = { prefix: config.REDIS_PREFIX, windowSeconds: 600 };
    expect(await markDeliveries(redis, opts, [{ tenantId, eventId: id, uid: 'wal:1:0' }])).toEqual(['new']);
    expect(await redis.ttl(key)).toBeGreaterThan(590); // metering's field keeps the id for a window after delivery
    expect(await markDeliveries(redis, opts, [{ tenantId, eventId: id, uid: 'wal:1:0' }, { tenantId, eventId: id, uid: 'wal:1:99' }])).toEqual(['replay', 'retry']);
    expect(await redis.hgetall(key)).toEqual({ fp: 'fp-1', uid: 'wal:1:0' });
    // Marked once, not twice: the two older per-module keys are not written.
    expect(await redis.exists(`${config.REDIS_PREFIX}:quota:seen:${tenantId}:${id}`, `${config.REDIS_PREFIX}:usage:eid:${tenantId}:${id}`)).toBe(0);
  });

  it('a failed request gives its id back to admission; the delivery stays', async () => {
    const marks = new IdempotencyMarks({ redis: runner, prefix: config.REDIS_PREFIX, windowSeconds: 600 });
    const tenantId = randomUUID();
    const id = `req-${randomUUID()}`;
    await marks.claim(tenantId, id, 'fp-1');
    await markDeliveries(redis, { prefix: config.REDIS_PREFIX, windowSeconds: 600 }, [{ tenantId, eventId: id, uid: 'wal:2:0' }]);
    marks.unmark(tenantId, id);
    await new Promise((r) => setTimeout(r, 50));
    expect(await redis.hgetall(keys.mark(tenantId, id))).toEqual({ uid: 'wal:2:0' });
    expect(await marks.claim(tenantId, id, 'fp-2')).toBe('');
  });

  it('batches the claims of one event-loop turn into one call and the background marks of 10 ms into another', async () => {
    const calls: string[] = [];
    const counting: RedisRunner = { up: true, run: (what, fn) => (calls.push(what), fn(redis)) };
    const marks = new IdempotencyMarks({ redis: counting, prefix: config.REDIS_PREFIX, windowSeconds: 600 });
    const tenantId = randomUUID();
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => marks.claim(tenantId, `c-${i}`, `fp-${i}`)));
    expect(got.every((g) => g === '')).toBe(true);
    expect(calls).toHaveLength(1);
    const heard: Array<string | null> = [];
    for (let i = 0; i < 5; i++) marks.markLater(tenantId, `c-${i}`, NO_FINGERPRINT, { onMark: (old) => heard.push(old) });
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toHaveLength(2);
    expect(heard.sort()).toEqual(['fp-0', 'fp-1', 'fp-2', 'fp-3', 'fp-4']);
  });

  it('remembers ids in the process for the window only', () => {
    const marks = new IdempotencyMarks({ redis: runner, prefix: config.REDIS_PREFIX, windowSeconds: 10 });
    marks.remember('t', 'a', 'fp', 1_000);
    marks.remember('t', 'b', NO_FINGERPRINT, 1_000);
    expect(marks.recall('t', 'a', 5_000)).toBe('fp');
    expect(marks.recall('t', 'b', 5_000)).toBe(NO_FINGERPRINT);
    expect(marks.recall('t', 'a', 11_001)).toBeUndefined();
    marks.forget('t', 'b');
    expect(marks.recall('t', 'b', 5_000)).toBeUndefined();
  });
});
