/**
 * Wraps every Redis call admission makes: a deadline per call, a quick "down" verdict while
 * the connection is not ready (so a dead Redis costs nothing per request rather than a
 * timeout), and one warning per interval instead of one per request.
 */
import type { Logger, Redis } from '../shared/index.js';
import type { Clock } from './types.js';

export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

export interface RedisGuardOptions {
  timeoutMs: number;
  /** After a failed call, skip Redis for this long before trying again. */
  retryAfterMs: number;
  warnIntervalMs: number;
  logger: Logger;
  clock: Clock;
  failureMode: 'open' | 'closed';
}

export class RedisGuard {
  private downUntil = 0;
  private lastWarn = -Infinity;
  private suppressed = 0;

  constructor(
    readonly redis: Redis,
    private readonly opts: RedisGuardOptions,
  ) {}

  get failureMode(): 'open' | 'closed' {
    return this.opts.failureMode;
  }

  /**
   * False while the connection is lost (ioredis is reconnecting) or a recent call failed. A
   * connection still being set up counts as up: calls wait for it, within the deadline.
   */
  get up(): boolean {
    const st = this.redis.status;
    return st !== 'reconnecting' && st !== 'end' && st !== 'close' && this.opts.clock() >= this.downUntil;
  }

  /** Records a decision taken without Redis (logged once per interval like failures). */
  degraded(what: string): void {
    if (this.opts.clock() - this.lastWarn < this.opts.warnIntervalMs) {
      this.suppressed++;
      return;
    }
    this.warn(what, new Error(this.redis.status === 'ready' ? 'recent Redis failure' : `redis ${this.redis.status}`));
  }

  /** Runs `fn` against Redis, or throws RedisUnavailableError (without waiting) when Redis is down. */
  async run<T>(what: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
    if (!this.up) throw this.unavailable(what, new Error(`redis ${this.redis.status}`));
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(this.redis),
        new Promise<never>((_, reject) => {
          // Reject one loop turn later: after an event-loop stall the timer and the reply are both
          // due, and the reply (read in the poll phase) must win over a false timeout.
          timer = setTimeout(() => setImmediate(() => reject(new Error(`redis call timed out after ${this.opts.timeoutMs} ms`))), this.opts.timeoutMs);
          timer.unref();
        }),
      ]);
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw err;
      this.downUntil = this.opts.clock() + this.opts.retryAfterMs;
      throw this.unavailable(what, err as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  private unavailable(what: string, cause: Error): RedisUnavailableError {
    this.warn(what, cause);
    return new RedisUnavailableError(`quota state unavailable (${what}): ${cause.message}`);
  }

  /** Logs at most once per interval, counting what it suppressed. */
  warn(what: string, cause: Error): void {
    const now = this.opts.clock();
    if (now - this.lastWarn < this.opts.warnIntervalMs) {
      this.suppressed++;
      return;
    }
    this.opts.logger.warn(
      { err: cause.message, op: what, failureMode: this.opts.failureMode, suppressed: this.suppressed },
      this.opts.failureMode === 'open'
        ? 'Redis unreachable: admitting with local accounting only (QUOTA_REDIS_FAILURE_MODE=open)'
        : 'Redis unreachable: refusing requests with 503 (QUOTA_REDIS_FAILURE_MODE=closed)',
    );
    this.lastWarn = now;
    this.suppressed = 0;
  }
}
