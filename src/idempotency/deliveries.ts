/**
 * Metering's side of idempotency: before a usage record goes to ClickHouse, the flusher asks
 * whether its (tenant, request id) was delivered already, on the same key admission marks.
 * The WAL record's uid tells a crash replay (the very record again: it may or may not have
 * landed, so the caller checks ClickHouse) from a retry (another record of the same id).
 */
import { runScript, type Redis } from '../shared/index.js';
import { idempotencyKeys } from './keys.js';
import { deliverScript } from './scripts.js';

/** new: first delivery of the id; replay: this same WAL record again (after a crash); retry: another record already delivered it. */
export type Delivery = 'new' | 'replay' | 'retry';

export interface DeliveryCandidate {
  tenantId: string;
  eventId: string;
  /** The WAL record's uid (`walId:segment:offset`). */
  uid: string;
}

const CHUNK = 1000;
const BY_CODE: readonly Delivery[] = ['retry', 'new', 'replay'];

/** Marks each candidate delivered; returns its Delivery (same order). Throws when Redis fails. */
export async function markDeliveries(redis: Redis, opts: { prefix: string; windowSeconds: number }, candidates: readonly DeliveryCandidate[]): Promise<Delivery[]> {
  const keys = idempotencyKeys(opts.prefix);
  const chunks: Promise<unknown>[] = [];
  for (let i = 0; i < candidates.length; i += CHUNK) {
    const chunk = candidates.slice(i, i + CHUNK);
    // Sent together (pipelined on the one connection); each script runs atomically in Redis.
    chunks.push(runScript(redis, deliverScript, chunk.map((c) => keys.mark(c.tenantId, c.eventId)), [opts.windowSeconds, ...chunk.map((c) => c.uid)]));
  }
  return (await Promise.all(chunks)).flatMap((codes) => (codes as number[]).map((c) => BY_CODE[c]!));
}
