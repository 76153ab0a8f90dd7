/**
 * Tier prices stored in jsonb are read exactly (`tiers::text`, numbers never become JS floats):
 * a fractional tier price renders and prices to the digit, a value beyond 2^53 stays exact, and a
 * price with more than 6 decimal places is refused loudly instead of being rounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPlatform } from '../../src/db/index.js';
import { chargeMicros, parseJsonExact, parseTiers, priceComponentFromRow, tierRowsFromJson, toScaledMicros, formatScaledMicros } from '../../src/billing/index.js';
import { closeFactories, createTenant, createUser, uniqueName } from '../factories.js';
import { insertEvents } from './data.js';
import { codes, gql, mintJwt, startHarness, type Harness } from './harness.js';

const HOUR = 3_600_000;
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  await closeFactories();
});

describe('exact tier amounts (unit)', () => {
  it('parseJsonExact keeps every number as its decimal text', () => {
    expect(parseJsonExact('[{"up_to": 10, "unit_price_micros": 0.0000005, "s": "1.5 \\" 2"}, {"n": -1.25e-3, "big": 9007199254740993.5}]')).toEqual([
      { up_to: '10', unit_price_micros: '0.0000005', s: '1.5 " 2' },
      { n: '-1.25e-3', big: '9007199254740993.5' },
    ]);
  });

  it('a tier price with more than 6 decimals is an error naming it (text, numbers and exponent forms), never rounded', () => {
    expect(() => tierRowsFromJson('[{"up_to": null, "unit_price_micros": 0.0000005}]')).toThrow(/more than 6 decimal places: 0\.0000005/);
    expect(() => tierRowsFromJson('[{"up_to": null, "unit_price_micros": 5e-7}]')).toThrow(/more than 6 decimal places: 0\.0000005/);
    expect(() => parseTiers([{ up_to: null, unit_price_micros: 0.0000005 }])).toThrow(/more than 6 decimal places/);
    expect(() => parseTiers([{ up_to: null, unit_price_micros: 1, flat_fee_micros: '0.1234567' }])).toThrow(/flat_fee_micros: more than 6 decimal places/);
    expect(() => toScaledMicros(1.0000001)).toThrow(/more than 6 decimal places/);
  });

  it('0.125 and values beyond 2^53 stay exact', () => {
    expect(tierRowsFromJson('[{"up_to": 1, "unit_price_micros": 0.125, "flat_fee_micros": 0.5}, {"up_to": null, "unitPriceMicros": 9007199254740993.5}]')).toEqual([
      { up_to: 1, unit_price_micros: '0.125', flat_fee_micros: '0.5' },
      { up_to: null, unit_price_micros: '9007199254740993.5', flat_fee_micros: '0' },
    ]);
    expect(toScaledMicros(0.125)).toBe(125_000n);
    expect(toScaledMicros('1.5e-1')).toBe(150_000n);
    expect(formatScaledMicros(9_007_199_254_740_993_500_000n)).toBe('9007199254740993.5');
    expect(formatScaledMicros(3_000_000n)).toBe('3');
    const c = priceComponentFromRow({ id: 'x', meter: 'requests', model: 'graduated', unit_price_micros: null, tiers: '[{"up_to": 1, "unit_price_micros": 0.125, "flat_fee_micros": 0.5}, {"up_to": null, "unit_price_micros": 9007199254740993.5}]', package_size: null, included_quantity: '0' });
    // 1 x 0.125 + 0.5 + 2 x 9007199254740993.5 = 18014398509481987.625 -> 18014398509481988 (floats would give ...989)
    expect(chargeMicros(c, 3n)).toBe(18_014_398_509_481_988n);
  });
});

describe('tier prices through the API', () => {
  const H = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const range = { from: new Date(H).toISOString(), to: new Date(H + HOUR).toISOString() };
  const planQuery = '{ tenant { plan { priceComponents { meter model tiers { upTo unitPriceMicros flatFeeMicros } } } } }';
  const costQuery = 'query($range: TimeRangeInput!) { costAttribution(range: $range, groupBy: MODEL) { totalMicros meters { meter quantity costMicros } } }';

  /** A tenant on a fresh plan whose `requests` component has these jsonb tiers (literal JSON text), with 3 ok requests in range. */
  async function tenantWithTiers(tiersJson: string): Promise<string> {
    const code = uniqueName('tierplan').slice(0, 60);
    await withPlatform(h.pools.app, async (c) => {
      const { rows } = await c.query(`INSERT INTO plans (code, name, priority_tier, rate_limit_rps, burst, max_concurrency) VALUES ($1, 'tier test', 2, 10, 10, 2) RETURNING id`, [code]);
      await c.query(`INSERT INTO price_components (plan_id, meter, model, tiers, included_quantity, effective_from) VALUES ($1, 'requests', 'graduated', $2::jsonb, 0, '2020-01-01T00:00:00Z')`, [rows[0].id, tiersJson]);
    });
    const t = await createTenant({ plan: code });
    await withPlatform(h.pools.app, (c) => c.query(`UPDATE tenant_plans SET effective_from = '2020-01-01T00:00:00Z' WHERE tenant_id = $1`, [t.id]));
    await insertEvents(h.clickhouse, [1, 2, 3].map((i) => ({ tenantId: t.id, model: 'm', ts: new Date(H + i * 60_000) })));
    const u = await createUser({ tenantId: t.id, role: 'finance' });
    return mintJwt(h.config, { sub: u.id, tid: t.id, role: 'finance' });
  }

  it('a fractional (0.125) and a beyond-2^53 tier price render and price exactly', async () => {
    const token = await tenantWithTiers('[{"up_to": 1, "unit_price_micros": 0.125, "flat_fee_micros": 0.5}, {"up_to": null, "unit_price_micros": 9007199254740993.5}]');
    const plan = await gql(h.url, planQuery, { token });
    expect(plan.errors).toBeUndefined();
    expect(plan.data.tenant.plan.priceComponents).toEqual([
      {
        meter: 'requests',
        model: 'graduated',
        tiers: [
          { upTo: 1, unitPriceMicros: '0.125', flatFeeMicros: '0.5' },
          { upTo: null, unitPriceMicros: '9007199254740993.5', flatFeeMicros: '0' },
        ],
      },
    ]);
    const cost = await gql(h.url, costQuery, { token, variables: { range } });
    expect(cost.errors).toBeUndefined();
    expect(cost.data.costAttribution.meters.find((m: { meter: string }) => m.meter === 'requests')).toEqual({ meter: 'requests', quantity: 3, costMicros: '18014398509481988' });
  });

  it('a tier price with more than 6 decimals (0.0000005) is an error on the read, not a rounded price', async () => {
    const token = await tenantWithTiers('[{"up_to": null, "unit_price_micros": 0.0000005}]');
    const plan = await gql(h.url, planQuery, { token });
    expect(codes(plan)).toEqual(['INTERNAL']);
    expect(plan.data?.tenant?.plan?.priceComponents ?? null).toBeNull();
    const cost = await gql(h.url, costQuery, { token, variables: { range } });
    expect(codes(cost)).toEqual(['INTERNAL']);
    expect(cost.data?.costAttribution ?? null).toBeNull();
  });
});
