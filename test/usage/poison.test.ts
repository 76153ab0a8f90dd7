/**
 * A poison pill in the WAL must not stop the usage flusher (review finding 2). The records are
 * written as raw WAL frames, bypassing the sink's schema, the way a record from an older or
 * buggy writer would arrive: one whose event id has a lone surrogate (the dedup query cannot
 * bind it: SqlBindError) and one whose tag value has one (ClickHouse rejects the insert).
 * Good records around them land exactly once, the bad ones are in dead-letter.jsonl, the
 * checkpoint moves on, and records appended later are flushed too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createRedis, type Logger, type Redis } from '../../src/shared/index.js';
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { createWalUsageSink } from '../../src/usage/sink.js';
import { Wal } from '../../src/usage/wal.js';
import { directClickHouse, silentLogger, tempStateDir, tenantTotals, testConfig, usageRecord } from './helpers.js';

let logger: Logger;
let redis: Redis;
let ch: ClickHouse;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  logger = await silentLogger();
  const config = testConfig();
  redis = createRedis(config);
  ch = directClickHouse(config);
  cleanups.push(() => redis.quit(), () => ch.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function sinkOn(walDir: string, dedup: 'all' | 'replays') {
  const config = testConfig({
    USAGE_WAL_DIR: walDir,
    USAGE_FLUSH_INTERVAL_MS: '50',
    USAGE_FLUSH_MAX_ROWS: '500',
    USAGE_WAL_SYNC_INTERVAL_MS: '2',
    USAGE_DEDUP_CHECK: dedup,
  });
  const clickhouse = createClickHouse(config);
  const sink = createWalUsageSink({ config, logger, clickhouse, redis });
  cleanups.push(async () => {
    await sink.stop({ drain: false });
    await clickhouse.close();
  });
  return sink;
}

describe('usage flusher with a poison pill in the WAL', () => {
  for (const dedup of ['all', 'replays'] as const) {
    it(`dead-letters the records ClickHouse or the dedup check reject, delivers the rest once, keeps flushing (dedup ${dedup})`, async () => {
      const tenantId = randomUUID();
      const walDir = await tempStateDir('poison');
      const good = Array.from({ length: 90 }, () => usageRecord(tenantId));
      const badId = usageRecord(tenantId, { eventId: `bad-id-\ud800-${randomUUID()}` });
      const badTag = usageRecord(tenantId, { tags: { team: 'cut\ud83d' } });
      const frames = [...good.slice(0, 30), badId, ...good.slice(30, 60), badTag, ...good.slice(60)];
      const raw = await Wal.open({ dir: walDir, syncIntervalMs: 1, syncMaxRecords: 64, maxBytes: 64 * 1024 * 1024 });
      await Promise.all(frames.map((r) => raw.append(Buffer.from(JSON.stringify(r)))));
      await raw.close();

      const sink = await sinkOn(walDir, dedup);
      await sink.start(); // replays the WAL: the poisoned batch is the first one
      await sink.flushNow();
      const later = Array.from({ length: 40 }, () => usageRecord(tenantId));
      await Promise.all(later.map((r) => sink.record(r)));
      await sink.flushNow();

      const t = await tenantTotals(ch, tenantId);
      const items = [...good, ...later].reduce((s, r) => s + r.items, 0);
      expect(t.rows).toBe(130);
      expect(t.distinctEvents).toBe(130);
      expect(t.items).toBe(items);
      expect(t.rollupRequests).toEqual({ minute: 130, hourly: 130, daily: 130 });

      const lines = (await fsp.readFile(path.join(walDir, 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
      const letters = lines.map((l) => JSON.parse(l) as { uid: string; error: { name: string; code?: number }; record: { eventId: string; tags: Record<string, string> } });
      expect(letters.map((l) => l.record.eventId).sort()).toEqual([badId.eventId, badTag.eventId].sort());
      const byId = new Map(letters.map((l) => [l.record.eventId, l]));
      expect(byId.get(badId.eventId)!.error.name).toBe('SqlBindError');
      expect(byId.get(badTag.eventId)!.error.name).toBe('ClickHouseError');
      expect(byId.get(badTag.eventId)!.error.code).toBeGreaterThan(0);
      expect(byId.get(badTag.eventId)!.record.tags.team).toBe('cut\ud83d'); // kept as written, for an operator
      const stats = sink.stats();
      expect(stats.flusher?.deadLettered).toBe(2);
      expect(stats.flusher?.backlog).toBe(0);
      // The checkpoint moved past the poisoned batch: a new sink on the same WAL has nothing to replay.
      await sink.stop();
      const again = await sinkOn(walDir, dedup);
      await again.start();
      expect(again.stats().flusher?.backlog).toBe(0);
      await again.stop();
    });
  }
});
