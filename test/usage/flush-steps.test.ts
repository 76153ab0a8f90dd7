/**
 * The flusher's steps one by one (flush-steps.ts) against the real per-run ClickHouse and Redis:
 * parsing WAL frames, dropping repeats, retries and replays that landed, inserting a batch.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createRedis } from '../../src/shared/index.js';
import { DeadLetterFile } from '../../src/usage/dead-letter.js';
import { dropDuplicates, insertBatch, parse, type FlushContext } from '../../src/usage/flush-steps.js';
import { Pacer } from '../../src/usage/pacer.js';
import { pairKey } from '../../src/usage/dedup.js';
import { directClickHouse, silentLogger, tempStateDir, tenantTotals, testConfig, usageRecord } from './helpers.js';

const config = testConfig();
const redis = createRedis(config);
const ch = directClickHouse(config);
afterAll(async () => {
  await redis.quit();
  await ch.close();
});

async function context(walId = `w${randomUUID().slice(0, 8)}`): Promise<FlushContext> {
  const logger = await silentLogger();
  const stats = { batches: 0, inserted: 0, duplicatesDropped: 0, failedAttempts: 0, ambiguousChecks: 0, deadLettered: 0, backlog: 0, lastError: null, readMs: 0, dedupMs: 0, redisMs: 0, checkMs: 0, insertMs: 0 };
  return { walId, clickhouse: ch, redis, config, logger, stats, deadLetters: new DeadLetterFile(await tempStateDir('flush-steps')), pacer: new Pacer(logger, () => {}) };
}

const frame = (rec: unknown, offset: number) => ({ segment: 1, offset, payload: Buffer.from(typeof rec === 'string' ? rec : JSON.stringify(rec)) });

describe('flush steps', () => {
  it('parse keeps usage records with their WAL uid and skips frames that are not', async () => {
    const ctx = await context('walA');
    const rec = usageRecord(randomUUID());
    const parsed = parse(ctx, [frame(rec, 0), frame('{not json', 80), frame({ hello: 1 }, 90)]);
    expect(parsed.map((p) => [p.eventId, p.uid])).toEqual([[rec.eventId, 'walA:1:0']]);
  });

  it('dropDuplicates keeps the first of each id, skips ids in flight, drops a retry of a delivered id and a replayed record that landed', async () => {
    const ctx = await context();
    const tenantId = randomUUID();
    const a = usageRecord(tenantId);
    const b = usageRecord(tenantId);
    const c = usageRecord(tenantId);
    const first = parse(ctx, [frame(a, 0), frame({ ...a, ts: a.ts + 1 }, 100), frame(b, 200), frame(c, 300)]);
    const kept = await dropDuplicates(ctx, first, new Set([pairKey(tenantId, c.eventId)]));
    expect(kept.map((p) => p.eventId)).toEqual([a.eventId, b.eventId]);
    await insertBatch(ctx, kept, `${ctx.walId}-1-0`);
    // The same WAL records again (a replay after a crash), and a retry of `a` from another record.
    const again = parse(ctx, [frame(a, 0), frame(b, 200), frame({ ...a, ts: a.ts + 5_000 }, 400)]);
    expect(await dropDuplicates(ctx, again, new Set())).toEqual([]);
    expect(ctx.stats.duplicatesDropped).toBe(2 + 3);
    expect((await tenantTotals(ch, tenantId)).rollupRequests.minute).toBe(2);
  });
});
