/**
 * Weighted fair queueing across tenants for the dynamic batcher (start-time fair queueing,
 * Goyal et al. 1996). Each tenant has its own FIFO; an item gets a virtual start tag
 * S = max(V, F_prev(tenant)) and finish tag F = S + cost / weight, and the queue always serves
 * the item with the smallest start tag. V is the start tag of the last item served, so a
 * tenant that was idle re-enters at "now" and cannot bank credit, while backlogged tenants
 * share service in proportion to their weights, measured in cost (items). A flood from one
 * tenant therefore delays another tenant's item by at most about one item of each other
 * active tenant — not by the flood's length.
 *
 * Each tenant may hold at most `maxShare` of the capacity, so a flood cannot fill the queue
 * and turn every other tenant away with "queue full".
 *
 * shift/peek scan the active tenants: O(active tenants), which stays small (tens).
 */
import type { TenantQueue, TenantQueueFactory } from './contract.js';

export interface FairQueueOptions {
  capacity: number;
  /** Largest fraction of `capacity` one tenant may occupy (0 < maxShare ≤ 1). Default 0.5. */
  maxShare?: number;
}

interface Entry<T> {
  item: T;
  tenantId: string;
  start: number;
  finish: number;
  seq: number;
}

interface Lane<T> {
  entries: Entry<T>[];
  head: number;
}

export class FairQueue<T> implements TenantQueue<T> {
  readonly capacity: number;
  readonly perTenantCapacity: number;
  private readonly lanes = new Map<string, Lane<T>>();
  private readonly lastFinish = new Map<string, number>();
  private readonly byItem = new Map<T, Entry<T>>();
  private vtime = 0;
  private seq = 0;
  private count = 0;

  constructor(opts: FairQueueOptions) {
    if (!(opts.capacity >= 1)) throw new RangeError('capacity must be >= 1');
    const share = opts.maxShare ?? 0.5;
    if (!(share > 0 && share <= 1)) throw new RangeError('maxShare must be in (0, 1]');
    this.capacity = Math.floor(opts.capacity);
    this.perTenantCapacity = Math.max(1, Math.ceil(this.capacity * share));
  }

  get size(): number {
    return this.count;
  }

  /** Items this tenant has queued now. */
  queued(tenantId: string): number {
    const lane = this.lanes.get(tenantId);
    return lane ? lane.entries.length - lane.head : 0;
  }

  push(item: T, owner: { tenantId: string; weight: number; cost: number }): boolean {
    if (this.count >= this.capacity || this.byItem.has(item)) return false;
    if (this.queued(owner.tenantId) >= this.perTenantCapacity) return false;
    const weight = owner.weight > 0 && Number.isFinite(owner.weight) ? owner.weight : 1;
    const cost = owner.cost > 0 && Number.isFinite(owner.cost) ? owner.cost : 1;
    const start = Math.max(this.vtime, this.lastFinish.get(owner.tenantId) ?? 0);
    const entry: Entry<T> = { item, tenantId: owner.tenantId, start, finish: start + cost / weight, seq: this.seq++ };
    this.lastFinish.set(owner.tenantId, entry.finish);
    let lane = this.lanes.get(owner.tenantId);
    if (!lane) this.lanes.set(owner.tenantId, (lane = { entries: [], head: 0 }));
    lane.entries.push(entry);
    this.byItem.set(item, entry);
    this.count++;
    return true;
  }

  peek(): T | undefined {
    return this.next()?.item;
  }

  shift(): T | undefined {
    const entry = this.next();
    if (!entry) return undefined;
    this.vtime = entry.start;
    this.take(entry);
    return entry.item;
  }

  remove(item: T): boolean {
    const entry = this.byItem.get(item);
    if (!entry) return false;
    this.take(entry);
    return true;
  }

  private next(): Entry<T> | undefined {
    let best: Entry<T> | undefined;
    for (const lane of this.lanes.values()) {
      const e = lane.entries[lane.head];
      if (e && (!best || e.start < best.start || (e.start === best.start && (e.finish < best.finish || (e.finish === best.finish && e.seq < best.seq))))) best = e;
    }
    return best;
  }

  private take(entry: Entry<T>): void {
    const lane = this.lanes.get(entry.tenantId)!;
    if (lane.entries[lane.head] === entry) lane.head++;
    else lane.entries.splice(lane.entries.indexOf(entry, lane.head), 1);
    this.byItem.delete(entry.item);
    this.count--;
    if (lane.head >= lane.entries.length) {
      this.lanes.delete(entry.tenantId);
      this.pruneFinishTags();
    } else if (lane.head > 64 && lane.head * 2 > lane.entries.length) {
      lane.entries = lane.entries.slice(lane.head);
      lane.head = 0;
    }
  }

  /** Finish tags at or below V no longer matter (max(V, F) = V); drop them so idle tenants cost nothing. */
  private pruneFinishTags(): void {
    if (this.lastFinish.size <= 2 * this.lanes.size + 64) return;
    for (const [tenant, f] of this.lastFinish) if (f <= this.vtime && !this.lanes.has(tenant)) this.lastFinish.delete(tenant);
  }
}

/** Weighted fair queueing with a bounded per-tenant share; pass as the inference batcher's `queueFactory`. */
export const fairQueueFactory: TenantQueueFactory = <T>(opts: { capacity: number }) => new FairQueue<T>({ capacity: opts.capacity });

/** Same, with an explicit per-tenant share. */
export function createFairQueueFactory(opts: { maxShare: number }): TenantQueueFactory {
  return <T>(q: { capacity: number }) => new FairQueue<T>({ capacity: q.capacity, maxShare: opts.maxShare });
}

/** First come, first served, bounded only by capacity: the baseline the noisy-neighbour benchmark compares against. */
export const fifoQueueFactory: TenantQueueFactory = <T>(opts: { capacity: number }): TenantQueue<T> => {
  const items: T[] = [];
  let head = 0;
  return {
    push(item) {
      if (items.length - head >= opts.capacity) return false;
      items.push(item);
      return true;
    },
    shift() {
      if (head >= items.length) return undefined;
      const item = items[head++];
      if (head > 1024 && head * 2 > items.length) {
        items.splice(0, head);
        head = 0;
      }
      return item;
    },
    peek: () => items[head],
    remove(item) {
      const i = items.indexOf(item, head);
      if (i < 0) return false;
      items.splice(i, 1);
      return true;
    },
    get size() {
      return items.length - head;
    },
  };
};
