/**
 * The one file that knows bull. Each job name gets its own bull queue (so concurrency and
 * retries are per job kind); processors are registered as plain functions from contracts.ts.
 * Swapping bull for another queue library means rewriting only this file.
 */
import Bull from 'bull';
import type { Logger } from '../shared/index.js';
import { jobContracts, parseJobPayload, type JobName, type JobPayload, type JobProcessor } from './contracts.js';

export interface JobQueues {
  enqueue<N extends JobName>(name: N, payload: JobPayload<N>, opts?: { jobId?: string; delayMs?: number }): Promise<string>;
  /** Repeats a job every `everyMs`; idempotent across restarts and replicas (same repeat key). */
  schedule<N extends JobName>(name: N, payload: JobPayload<N>, everyMs: number): Promise<void>;
  process<N extends JobName>(name: N, processor: JobProcessor<N>, concurrency?: number): void;
  /** Waits for a job to finish and returns its result (tests and CLI use it). */
  runNow<N extends JobName>(name: N, payload: JobPayload<N>, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

export function createJobQueues(opts: { redisUrl: string; prefix: string; logger: Logger }): JobQueues {
  const queues = new Map<JobName, Bull.Queue>();
  const queue = (name: JobName): Bull.Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Bull(name, opts.redisUrl, {
        prefix: `${opts.prefix}:bull`,
        defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 }, removeOnComplete: 1_000, removeOnFail: 5_000 },
      });
      q.on('error', (err) => opts.logger.warn({ err, queue: name }, 'job queue error'));
      queues.set(name, q);
    }
    return q;
  };

  return {
    async enqueue(name, payload, o = {}) {
      const data = parseJobPayload(name, payload);
      const job = await queue(name).add(data, { jobId: o.jobId, delay: o.delayMs });
      return String(job.id);
    },
    async schedule(name, payload, everyMs) {
      const data = parseJobPayload(name, payload);
      await queue(name).add(data, { repeat: { every: everyMs }, jobId: `repeat:${name}` });
    },
    process(name, processor, concurrency = 1) {
      void queue(name).process(concurrency, async (job) => {
        const payload = parseJobPayload(name, job.data);
        const started = Date.now();
        const result = await processor(payload, { jobId: String(job.id), attempt: job.attemptsMade + 1 });
        opts.logger.info({ job: name, jobId: job.id, ms: Date.now() - started }, 'job done');
        return result;
      });
    },
    async runNow(name, payload, timeoutMs = 60_000) {
      const job = await queue(name).add(parseJobPayload(name, payload));
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`job ${name} did not finish in ${timeoutMs} ms`)), timeoutMs).unref());
      return Promise.race([job.finished(), timeout]);
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}

export const jobNames = Object.keys(jobContracts) as JobName[];

/** One job queue as an operator sees it (`tollgate status`). */
export interface JobQueueStats {
  name: JobName;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Processes consuming this queue now (bull names its blocking connections; from Redis CLIENT LIST). */
  workers: number;
}

/**
 * Counts of every job queue, read with short-lived connections; rejects after `timeoutMs` (Redis
 * down) instead of letting bull retry forever.
 */
export async function jobQueueStats(opts: { redisUrl: string; prefix: string; timeoutMs?: number }): Promise<JobQueueStats[]> {
  const queues = jobNames.map((name) => ({ name, q: new Bull(name, opts.redisUrl, { prefix: `${opts.prefix}:bull`, redis: { maxRetriesPerRequest: 1, retryStrategy: () => null } }) }));
  for (const { q } of queues) q.on('error', () => {}); // reported through the rejected promise below
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${opts.timeoutMs ?? 3000} ms`)), opts.timeoutMs ?? 3000);
    });
    const read = Promise.all(
      queues.map(async ({ name, q }) => {
        await q.isReady();
        const [c, workers] = await Promise.all([q.getJobCounts(), q.getWorkers()]);
        return { name, waiting: c.waiting, active: c.active, delayed: c.delayed, failed: c.failed, workers: workers.length };
      }),
    );
    return await Promise.race([read, timeout]);
  } finally {
    clearTimeout(timer);
    await Promise.all(queues.map(({ q }) => q.close().catch(() => undefined)));
  }
}
