/**
 * Waiting in the flusher: sleeps that `poke` cuts short (new work, flushNow, stop), and `persist`,
 * which retries a step with capped exponential backoff until it succeeds or the flusher stops.
 */
import type { Logger } from '../shared/index.js';

export class Stopped extends Error {}

export class Pacer {
  private readonly wakers = new Set<() => void>();
  /** Set on stop: retries give up at once. */
  stopping = false;

  constructor(
    private readonly logger: Logger,
    private readonly onFailure: (err: Error) => void,
  ) {}

  /** Wakes every sleeper now. */
  poke(): void {
    for (const w of [...this.wakers]) w();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const wakers = this.wakers;
      function done() {
        clearTimeout(t);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });
  }

  /** Retries `fn` with capped exponential backoff until it succeeds or the flusher is stopped. */
  async persist<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopping) throw new Stopped();
      try {
        return await fn();
      } catch (err) {
        this.onFailure(err as Error);
        if (attempt === 0 || attempt % 20 === 0) this.logger.warn({ err, attempt }, `usage flusher: ${what} failed; retrying`);
        await this.sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
      }
    }
  }
}
