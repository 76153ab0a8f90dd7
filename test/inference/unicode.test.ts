/**
 * Broken UTF-16 never reaches a usage record: ids and tags with lone surrogates are a 400, tag
 * values are cut on code points, and the usage record schema refuses what ClickHouse would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageRecordSchema, type UsageRecord } from '../../src/usage/index.js';
import { truncateCodePoints } from '../../src/shared/index.js';
import { infer, makeRepo, mlpRequest, prng, staticKeys, startServer, type Running } from './helpers.js';

const keys = staticKeys();
const alice = keys.add();
const repo = makeRepo(['mlp-demo']);
let srv: Running;

beforeAll(async () => {
  srv = await startServer({ repo: repo.dir, authenticate: keys.authenticate });
});
afterAll(async () => {
  await srv?.close();
  repo.cleanup();
});

const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();
function expectWellFormed(rec: UsageRecord): void {
  for (const s of [rec.eventId, rec.requestId, rec.model, rec.modelVersion, ...Object.keys(rec.tags), ...Object.values(rec.tags)]) expect(wellFormed(s)).toBe(true);
}

/** Sends a request and returns its answer and the one usage record it produced. */
async function send(model: string, body: unknown): Promise<{ status: number; error?: string; rec: UsageRecord }> {
  const before = srv.sink.records.length;
  const res = await infer(srv.base, model, body, { key: alice.secret });
  const recs = srv.sink.records.slice(before);
  expect(recs).toHaveLength(1);
  return { status: res.status, error: res.json?.error, rec: recs[0]! };
}

describe('well-formed Unicode in ids and tags', () => {
  it('rejects a request id with a lone surrogate with a 400, recorded under a generated id', async () => {
    for (const id of ['\ud800', 'abc\udfff', '\udc00\ud800']) {
      const r = await send('mlp-demo', mlpRequest(prng(1), 1, id));
      expect(r.status).toBe(400);
      expect(r.error).toMatch(/"id" must be well-formed Unicode/);
      expect(r.rec.requestId).not.toContain(id);
      expectWellFormed(r.rec);
    }
    // A proper pair is fine and echoed.
    const ok = await infer(srv.base, 'mlp-demo', mlpRequest(prng(1), 1, 'emoji-\ud83d\ude00'), { key: alice.secret });
    expect(ok.status).toBe(200);
    expect(ok.json.id).toBe('emoji-😀');
  });

  it('rejects tag keys and values with lone surrogates', async () => {
    for (const parameters of [{ 'tag.\udc00x': 'v' }, { 'tag.team': 'a\ud83d' }, { 'tag.team': '\ude00' }]) {
      const r = await send('mlp-demo', { ...mlpRequest(prng(2), 1), parameters });
      expect(r.status).toBe(400);
      expect(r.error).toMatch(/well-formed Unicode/);
      expect(r.rec.tags).toEqual({});
      expectWellFormed(r.rec);
    }
  });

  it('truncates tag values to 256 code units without splitting a surrogate pair', async () => {
    const split = 'a'.repeat(255) + '😀'; // the pair straddles unit 256
    const fits = 'b'.repeat(254) + '😀x';
    const r = await send('mlp-demo', { ...mlpRequest(prng(3), 1), parameters: { 'tag.split': split, 'tag.fits': fits } });
    expect(r.status).toBe(200);
    expect(r.rec.tags.split).toBe('a'.repeat(255));
    expect(r.rec.tags.fits).toBe('b'.repeat(254) + '😀');
    expectWellFormed(r.rec);
  });

  it('a long unknown version name never reaches a usage record (the 404 is counted as a refusal)', async () => {
    const before = srv.sink.records.length;
    const res = await infer(srv.base, 'mlp-demo', mlpRequest(prng(4), 1), { key: alice.secret, version: encodeURIComponent('a' + '😀'.repeat(40)) });
    expect(res.status).toBe(404);
    expect(srv.sink.records.slice(before)).toHaveLength(0);
    expect(srv.sink.rejections.at(-1)).toMatchObject({ httpStatus: 404, reason: 'not_found' });
  });
});

describe('usage record schema and helpers', () => {
  const base = { eventId: 'e', requestId: 'e', tenantId: '00000000-0000-4000-8000-000000000000', apiKeyId: '00000000-0000-4000-8000-000000000001', model: 'm', modelVersion: '1', ts: 1, status: 'ok', httpStatus: 200, items: 1, inputBytes: 0, outputBytes: 0, queueUs: 0, computeUs: 0, batchSize: 1, billedComputeUs: 0, device: 'cpu', tags: {} };

  it('refuses lone surrogates in ids, model names and tags', () => {
    expect(usageRecordSchema.safeParse(base).success).toBe(true);
    for (const bad of [{ eventId: '\ud800' }, { requestId: 'x\udc00' }, { model: '\ud800' }, { tags: { t: '\ud800' } }, { tags: { '\udc00': 'v' } }]) {
      expect(usageRecordSchema.safeParse({ ...base, ...bad }).success).toBe(false);
    }
    expect(usageRecordSchema.safeParse({ ...base, eventId: '😀', tags: { t: '😀' } }).success).toBe(true);
  });

  it('truncateCodePoints never ends in a high surrogate', () => {
    expect(truncateCodePoints('ab😀', 3)).toBe('ab');
    expect(truncateCodePoints('ab😀', 4)).toBe('ab😀');
    expect(truncateCodePoints('abc', 2)).toBe('ab');
  });
});
