/**
 * Flushed-through watermarks: each inference replica publishes, per usage WAL, the instant before
 * which every request it served is in ClickHouse. Invoices are finalized only when every live
 * replica's watermark has passed the period's end (src/invoices); a replica silent for longer
 * than USAGE_WATERMARK_SILENCE_MS is reported and stops blocking (its late rows become
 * adjustment lines on the next invoice).
 *
 * A watermark advances only while the flusher has no backlog: then every record made durable so
 * far is confirmed, and a request that arrived more than INFERENCE_REQUEST_TIMEOUT_MS (+ a margin
 * for the group fsync) ago has made its record durable — so the watermark is now minus that.
 */
import type { Config } from '../config/index.js';
import { redisKey, type Logger, type Redis } from '../shared/index.js';

export const WATERMARK_MARGIN_MS = 5_000;

export interface ReplicaWatermark {
  walId: string;
  /** Every request that arrived before this instant is in ClickHouse. */
  flushedThrough: Date;
  /** When the replica last published (alive). */
  seenAt: Date;
}

type WatermarkConfig = Pick<Config, 'REDIS_PREFIX'>;

function hashKey(config: WatermarkConfig): string {
  return redisKey(config, 'usage', 'watermarks');
}

export async function publishWatermark(redis: Pick<Redis, 'hset'>, config: WatermarkConfig, w: ReplicaWatermark): Promise<void> {
  await redis.hset(hashKey(config), w.walId, JSON.stringify({ flushedThrough: w.flushedThrough.getTime(), seenAt: w.seenAt.getTime() }));
}

export async function readWatermarks(redis: Pick<Redis, 'hgetall'>, config: WatermarkConfig): Promise<ReplicaWatermark[]> {
  const all = await redis.hgetall(hashKey(config));
  const out: ReplicaWatermark[] = [];
  for (const [walId, text] of Object.entries(all)) {
    try {
      const v = JSON.parse(text) as { flushedThrough: number; seenAt: number };
      out.push({ walId, flushedThrough: new Date(v.flushedThrough), seenAt: new Date(v.seenAt) });
    } catch {
      // a malformed entry names no time: ignore it
    }
  }
  return out.sort((a, b) => (a.walId < b.walId ? -1 : 1));
}

/** Forgets a replica (an operator retired it for good). */
export async function forgetWatermark(redis: Pick<Redis, 'hdel'>, config: WatermarkConfig, walId: string): Promise<void> {
  await redis.hdel(hashKey(config), walId);
}

export interface WatermarkVerdict {
  /** Live replicas whose watermark is before the instant. */
  lagging: ReplicaWatermark[];
  /** Replicas silent for longer than the setting: reported, not blocking. */
  silent: ReplicaWatermark[];
}

/** Which replicas keep `instant` from being complete in ClickHouse at `now`. */
export function judgeWatermarks(all: readonly ReplicaWatermark[], q: { instant: Date; now: Date; silenceMs: number }): WatermarkVerdict {
  const silent = all.filter((w) => q.now.getTime() - w.seenAt.getTime() > q.silenceMs);
  const lagging = all.filter((w) => !silent.includes(w) && w.flushedThrough.getTime() < q.instant.getTime());
  return { lagging, silent };
}

/**
 * Publishes this replica's watermark every `intervalMs` (the heartbeat always; the watermark only
 * advances while `backlog()` is 0). Returns a stop function. Redis failures are logged, not thrown.
 */
export function startWatermarkPublisher(deps: {
  redis: Pick<Redis, 'hset'>;
  config: WatermarkConfig & Pick<Config, 'INFERENCE_REQUEST_TIMEOUT_MS'>;
  walId: string;
  backlog: () => number;
  intervalMs: number;
  logger: Logger;
  now?: () => number;
}): () => void {
  const now = deps.now ?? Date.now;
  let flushedThrough = 0;
  let warned = false;
  const tick = () => {
    const t = now();
    if (deps.backlog() === 0) flushedThrough = Math.max(flushedThrough, t - deps.config.INFERENCE_REQUEST_TIMEOUT_MS - WATERMARK_MARGIN_MS);
    publishWatermark(deps.redis, deps.config, { walId: deps.walId, flushedThrough: new Date(flushedThrough), seenAt: new Date(t) }).then(
      () => (warned = false),
      (err: unknown) => {
        if (!warned) deps.logger.warn({ err }, 'usage watermark: cannot publish to Redis; invoice finalization may wait for this replica');
        warned = true;
      },
    );
  };
  tick();
  const timer = setInterval(tick, deps.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
