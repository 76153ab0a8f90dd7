import { describe, expect, it } from 'vitest';
import { FairQueue, fairQueueFactory, fifoQueueFactory } from '../../src/quotas/fair-queue.js';

type Item = { tenant: string; n: number; cost: number };

function fill(q: FairQueue<Item>, tenant: string, count: number, weight: number, cost = 1): Item[] {
  const out: Item[] = [];
  for (let n = 0; n < count; n++) {
    const item = { tenant, n, cost };
    if (q.push(item, { tenantId: tenant, weight, cost })) out.push(item);
  }
  return out;
}

function serve(q: FairQueue<Item>, count: number): Record<string, { items: number; cost: number }> {
  const got: Record<string, { items: number; cost: number }> = {};
  for (let i = 0; i < count; i++) {
    const it = q.shift();
    if (!it) break;
    const g = (got[it.tenant] ??= { items: 0, cost: 0 });
    g.items++;
    g.cost += it.cost;
  }
  return got;
}

describe('FairQueue', () => {
  it('serves backlogged tenants in proportion to their weights', () => {
    const q = new FairQueue<Item>({ capacity: 10_000, maxShare: 1 });
    fill(q, 'a', 2000, 1);
    fill(q, 'b', 2000, 3);
    const got = serve(q, 400);
    expect(got.a!.items).toBeGreaterThanOrEqual(99);
    expect(got.a!.items).toBeLessThanOrEqual(101);
    expect(got.b!.items).toBeGreaterThanOrEqual(299);
  });

  it('measures service in cost (items), not requests', () => {
    const q = new FairQueue<Item>({ capacity: 10_000, maxShare: 1 });
    fill(q, 'big', 1000, 1, 8);
    fill(q, 'small', 1000, 1, 1);
    const got = serve(q, 900);
    // Equal weights: equal items served, so 8 small requests per big one.
    expect(Math.abs(got.big!.cost - got.small!.cost)).toBeLessThanOrEqual(8);
    expect(got.small!.items).toBeGreaterThan(7 * got.big!.items);
  });

  it('does not starve a tenant that arrives behind a flood', () => {
    const q = new FairQueue<Item>({ capacity: 10_000, maxShare: 1 });
    fill(q, 'flood', 5000, 1);
    serve(q, 10);
    const [late] = fill(q, 'late', 1, 1);
    const served: Item[] = [q.shift()!, q.shift()!];
    expect(served).toContain(late);
    expect(q.size).toBe(5000 - 10 - 1);
  });

  it('does not let an idle tenant bank credit', () => {
    const q = new FairQueue<Item>({ capacity: 10_000, maxShare: 1 });
    fill(q, 'a', 100, 1);
    serve(q, 100); // a was served alone; b was idle meanwhile
    fill(q, 'a', 100, 1);
    fill(q, 'b', 100, 1);
    const got = serve(q, 20);
    expect(got.a!.items).toBeGreaterThanOrEqual(9);
    expect(got.b!.items).toBeGreaterThanOrEqual(9);
  });

  it('bounds each tenant to its share so others can still enqueue', () => {
    const q = new FairQueue<Item>({ capacity: 100, maxShare: 0.25 });
    expect(fill(q, 'a', 1000, 1)).toHaveLength(25);
    expect(q.push({ tenant: 'a', n: -1, cost: 1 }, { tenantId: 'a', weight: 1, cost: 1 })).toBe(false);
    expect(fill(q, 'b', 25, 1)).toHaveLength(25);
    fill(q, 'c', 25, 1);
    fill(q, 'd', 25, 1);
    expect(q.size).toBe(100);
    expect(fill(q, 'e', 1, 1)).toHaveLength(0); // whole queue full
    q.shift();
    expect(fill(q, 'e', 1, 1)).toHaveLength(1);
    // The default factory bounds a tenant to half the capacity.
    const d = fairQueueFactory<number>({ capacity: 10 });
    let accepted = 0;
    for (let i = 0; i < 10; i++) if (d.push(i, { tenantId: 'x', weight: 1, cost: 1 })) accepted++;
    expect(accepted).toBe(5);
  });

  it('peek returns what shift returns; remove takes an item out of the middle', () => {
    const q = new FairQueue<Item>({ capacity: 100, maxShare: 1 });
    const a = fill(q, 'a', 3, 1);
    const b = fill(q, 'b', 3, 2);
    expect(q.remove(a[1]!)).toBe(true);
    expect(q.remove(a[1]!)).toBe(false);
    const order: Item[] = [];
    while (q.size > 0) {
      const peeked = q.peek();
      const got = q.shift();
      expect(got).toBe(peeked);
      order.push(got!);
    }
    expect(order).toHaveLength(5);
    expect(order).not.toContain(a[1]);
    expect(order.filter((i) => i.tenant === 'a').map((i) => i.n)).toEqual([0, 2]); // FIFO within a tenant
    expect(order.filter((i) => i.tenant === 'b')).toEqual(b);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
  });

  it('rejects pushing the same item twice and bad options', () => {
    const q = new FairQueue<object>({ capacity: 4 });
    const x = {};
    expect(q.push(x, { tenantId: 't', weight: 1, cost: 1 })).toBe(true);
    expect(q.push(x, { tenantId: 't', weight: 1, cost: 1 })).toBe(false);
    expect(() => new FairQueue({ capacity: 0 })).toThrow(RangeError);
    expect(() => new FairQueue({ capacity: 4, maxShare: 0 })).toThrow(RangeError);
  });
});

describe('fifoQueueFactory', () => {
  it('is first come first served, bounded by capacity', () => {
    const q = fifoQueueFactory<number>({ capacity: 3 });
    expect([1, 2, 3, 4].map((n) => q.push(n, { tenantId: n === 2 ? 'b' : 'a', weight: 9, cost: 1 }))).toEqual([true, true, true, false]);
    expect(q.remove(2)).toBe(true);
    expect(q.peek()).toBe(1);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([1, 3, undefined]);
    expect(q.size).toBe(0);
  });
});
