/** The default TenantQueue: first in, first out, bounded by request count (no fairness). */
import type { TenantQueue, TenantQueueFactory } from '../../../src/quotas/index.js';

export class FifoQueue<T> implements TenantQueue<T> {
  private items: T[] = [];
  private head = 0;
  constructor(private readonly capacity: number) {}

  push(item: T): boolean {
    if (this.size >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    // Compact now and then so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  remove(item: T): boolean {
    const i = this.items.indexOf(item, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  get size(): number {
    return this.items.length - this.head;
  }
}

export const fifoQueueFactory: TenantQueueFactory = <T>(opts: { capacity: number }) => new FifoQueue<T>(opts.capacity);
