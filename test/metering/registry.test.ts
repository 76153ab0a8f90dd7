/**
 * The meter registry is the one owner of meter names: Postgres CHECK lists equal it, its
 * ClickHouse aggregates read what its record readers read, and no production source spells a
 * meter name outside src/metering (so the next meter cannot slip into a second list).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClickHouse, sql } from '../../src/clickhouse/index.js';
import { loadConfig } from '../../src/config/index.js';
import { meterDefinitions, meters, meterSumsOverEvents, overrideKinds, unitsOfRecord, unitsOfRollup, type Meter } from '../../src/metering/index.js';
import { closeFactories, factoryDeps } from '../factories.js';

const root = path.resolve(import.meta.dirname, '../..');
const clickhouse = createClickHouse(loadConfig());

afterAll(async () => {
  await clickhouse.close();
  await closeFactories();
});

describe('meter registry', () => {
  it('names each meter once, with a unit, display name and scale', () => {
    expect(new Set(meters).size).toBe(meters.length);
    for (const d of meterDefinitions) {
      expect(d.displayName).not.toBe('');
      expect(d.scale).toBeGreaterThan(0);
      expect(d.source === 'compute').toBe(d.device !== null);
      // Use known only at the end of a run cannot be reserved at admission.
      if (d.source === 'compute') expect(d.chargedAt).toBe('release');
    }
  });

  it("the migrated Postgres CHECK lists on meter columns are the registry's", async () => {
    const { pools } = factoryDeps();
    const r = await pools.owner.query<{ table: string; def: string }>(
      `SELECT conrelid::regclass::text AS table, pg_get_constraintdef(oid) AS def
         FROM pg_constraint WHERE contype = 'c' AND pg_get_constraintdef(oid) ~ '\\mmeter\\M'`,
    );
    expect(r.rows.map((x) => x.table).sort()).toEqual(expect.arrayContaining(['plan_quotas', 'price_components', 'quota_overrides']));
    for (const { table, def } of r.rows) {
      const names = [...def.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]);
      // A meter column admits exactly the meters; quota_overrides also the admission limits.
      expect({ table, names }).toEqual({ table, names: table === 'quota_overrides' ? [...overrideKinds] : [...meters] });
    }
  });

  it('the ClickHouse aggregates count what the record readers count', async () => {
    const records = [
      { ok: true, items: 3, computeUs: 1500, device: 'cpu' },
      { ok: false, items: 4, computeUs: 700, device: 'cpu' },
      { ok: true, items: 2, computeUs: 9000, device: 'cuda:0' },
      { ok: false, items: 5, computeUs: 11, device: 'cuda' },
    ];
    const rows = records.map((r) => sql`SELECT toUInt8(${r.ok ? 1 : 0}) AS ok, toUInt32(${r.items}) AS items, toUInt64(${r.computeUs}) AS c, ${r.device} AS d`);
    const union = rows.reduce((a, b) => sql`${a} UNION ALL ${b}`);
    const [got] = await clickhouse.query<Record<string, string | number>>(sql`SELECT ${meterSumsOverEvents()} FROM (${union})`);
    for (const d of meterDefinitions) {
      const expected = records.reduce((n, r) => n + unitsOfRecord(d, r), 0);
      expect({ meter: d.name, units: Number(got![d.name]) }).toEqual({ meter: d.name, units: expected });
    }
    // The compute meters split by device and count failed runs (issue 17.3); requests/items only ok ones.
    expect(meters.map((m) => Number(got![m]))).toEqual([2, 5, 2200, 9011]);
  });

  it('reads rollup rows per device', () => {
    const row = { okRequests: 4n, okItems: 9n, billedComputeUs: 1234n, device: 'CUDA:1' };
    const got = Object.fromEntries(meterDefinitions.map((d) => [d.name, unitsOfRollup(d, row)])) as Record<Meter, bigint>;
    expect(meters.map((m) => got[m])).toEqual([4n, 9n, 0n, 1234n]);
  });
});

/**
 * Production source that spells a meter name outside the registry. Names with an underscore are
 * unmistakable anywhere; plain words (requests, items) count as a meter name only as a string
 * literal on a line that speaks of meters or names another meter — they are also column names.
 */
const SOURCES = ['src', 'app', 'inference/src', 'graphql/src', 'otlp', 'console/src', 'scripts', 'bin'];
// Every source is on the registry now (cost attribution moved to src/billing).
const NOT_YET_MOVED = new Set<string>();

function sourceFiles(dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mjs|js|cjs)$/.test(f) && !f.includes('node_modules'))
    .map((f) => path.join(dir, f).split(path.sep).join('/'));
}

/** Removes comments, keeping line numbers. Good enough for this code base's sources. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function strayMeterNames(file: string, text: string): string[] {
  const distinct = meters.filter((m) => m.includes('_'));
  const plain = meters.filter((m) => !m.includes('_'));
  const out: string[] = [];
  stripComments(text).split('\n').forEach((line, i) => {
    const hits: string[] = [];
    for (const m of distinct) if (new RegExp(`\\b${m}\\b`).test(line)) hits.push(m);
    const speaksOfMeters = /meter/i.test(line) || hits.length > 0 || plain.filter((m) => new RegExp(`['"\`]${m}['"\`]`).test(line)).length > 1;
    if (speaksOfMeters) for (const m of plain) if (new RegExp(`['"\`]${m}['"\`]`).test(line)) hits.push(m);
    if (hits.length) out.push(`${file}:${i + 1}: ${hits.join(', ')}`);
  });
  return out;
}

describe('meter names are spelled in the registry alone', () => {
  it('finds them where they were spelled before the registry (the check can fail)', () => {
    expect(strayMeterNames('x.ts', "const meter: Meter = device === 'cuda' ? 'compute_ms_cuda' : 'compute_ms_cpu';")).toHaveLength(1);
    expect(strayMeterNames('x.ts', "if (q.meter === 'requests' || q.meter === 'items') {")).toEqual(['x.ts:1: requests, items']);
    expect(strayMeterNames('x.ts', "export const meters = ['requests', 'items'] as const;")).toHaveLength(1);
    expect(strayMeterNames('x.ts', "const cols = ['ts', 'status', 'items', 'input_bytes'];")).toEqual([]);
    expect(strayMeterNames('x.ts', '// requests and items: compute_ms_cpu in a comment')).toEqual([]);
  });

  it('no production source outside src/metering names a meter', () => {
    const files = SOURCES.flatMap(sourceFiles).filter((f) => !f.startsWith('src/metering/') && !f.startsWith('src/billing/') && !NOT_YET_MOVED.has(f));
    expect(files.length).toBeGreaterThan(100);
    const stray = files.flatMap((f) => strayMeterNames(f, fs.readFileSync(path.join(root, f), 'utf8')));
    expect(stray).toEqual([]);
  });
});
