/**
 * Per-model-version dynamic batcher. Requests wait in a bounded TenantQueue (FIFO by default,
 * weighted-fair from quotas when injected). A batch leaves when an instance is free and either
 * enough items wait (the largest preferred size, else max_batch_size) or the oldest request has
 * waited max_queue_delay (or at once with idle_dispatch). Only requests with the same non-batch dimensions share a batch.
 * Outputs are split back by each request's rows, so batched results equal unbatched ones.
 */
import { AppError } from '../../../src/shared/index.js';
import type { TenantQueue } from '../../../src/quotas/index.js';
import { datatypeInfo, datatypeOfOrt } from '../oip/datatypes.js';
import type { DecodedRequest, RequestedOutput } from '../oip/decode.js';
import type { OutputTensor } from '../oip/encode.js';
import type { ModelConfig } from '../repository/config.js';
import { WorkerCallError, type PoolWorker } from '../runtime/pool.js';
import { JSON_OUTPUT_MAX_ELEMENTS, type ExecDevice, type JsonSpec, type WireTensor } from '../runtime/protocol.js';

export interface JobResult {
  tensors: Map<string, OutputTensor>;
  queueUs: number;
  computeUs: number;
  batchSize: number;
  device: ExecDevice;
}

/** What a job's batch cost, reported when the batch ends (also for a job already answered). */
export interface BatchOutcome {
  ok: boolean;
  queueUs: number;
  computeUs: number;
  batchSize: number;
  device: ExecDevice;
}

export interface Job {
  req: DecodedRequest;
  tenantId: string;
  enqueuedAt: bigint;
  /** Set once the request was answered (e.g. timed out); a late result is dropped. */
  settled: boolean;
  /** Set when the job left the queue for a worker: from then on it runs to the end of its batch. */
  running?: boolean;
  resolve(r: JobResult): void;
  reject(e: Error): void;
  /**
   * Called once when the job's batch has ended, after resolve/reject — also when the request
   * was already answered (timed out while running): its slot and compute are released then.
   */
  done?(o: BatchOutcome): void;
}

export interface Instance {
  worker: PoolWorker;
  device: ExecDevice;
  /** Batches dispatched to this instance and not yet answered. */
  running: number;
}

/**
 * Batches an instance may hold at once: the second waits in the worker's message queue and
 * starts the moment the first ends, hiding the main-thread round trip between batches.
 */
export const PIPELINE_DEPTH = 2;

export interface BatchEvent {
  batchSize: number;
  requests: number;
  computeUs: number;
  ok: boolean;
}

const nowNs = () => process.hrtime.bigint();

/**
 * A request that failed after its session ran (the run failed on its input, or its output could
 * not be formatted): it carries its share of the compute, which is billed (issue 17.3).
 */
export class BilledFailure extends AppError {
  constructor(
    cause: AppError,
    readonly outcome: BatchOutcome,
  ) {
    super(cause.code, cause.message, cause.details);
  }
}

export function outputTooLarge(name: string): AppError {
  return new AppError('BAD_USER_INPUT', `output "${name}" holds more than ${JSON_OUTPUT_MAX_ELEMENTS} elements, too many to answer as JSON: request it with the binary extension (parameters.binary_data_output or the output's binary_data)`);
}

/** Outputs answered as JSON numbers (not binary, not replaced by classification): the worker formats those. */
function wantsJsonText(job: Job, o: RequestedOutput): boolean {
  return o.classification === undefined && !(o.binary ?? job.req.binaryOutput);
}

export class DynamicBatcher {
  private readonly pending = new Set<Job>(); // insertion order: first = oldest
  private queuedItems = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly delayNs: bigint;
  private readonly target: number;
  private readonly outputNames: string[];
  private readonly idleDispatch: boolean;
  flushing = false;

  constructor(
    readonly key: string,
    private readonly config: ModelConfig,
    readonly instances: Instance[],
    private readonly queue: TenantQueue<Job>,
    private readonly onBatch: (e: BatchEvent) => void = () => {},
  ) {
    const db = config.dynamic_batching;
    this.delayNs = BigInt(db?.max_queue_delay_microseconds ?? 0) * 1000n;
    const preferred = (db?.preferred_batch_size ?? []).filter((n) => n <= config.max_batch_size);
    this.target = config.max_batch_size === 0 ? 1 : preferred.length > 0 ? Math.max(...preferred) : config.max_batch_size;
    this.outputNames = config.outputs.map((o) => o.name);
    this.idleDispatch = db?.idle_dispatch ?? false;
  }

  get queued(): number {
    return this.pending.size;
  }

  /** Queues a job; false when the queue (or the tenant's share of it) is full. */
  submit(job: Job, owner: { tenantId: string; weight: number }): boolean {
    if (!this.queue.push(job, { ...owner, cost: job.req.items })) return false;
    this.pending.add(job);
    this.queuedItems += job.req.items;
    this.schedule();
    return true;
  }

  /** Takes a job out of the queue (timeout); false when it already left for a batch. */
  cancel(job: Job): boolean {
    if (!this.pending.has(job)) return false;
    this.queue.remove(job);
    this.forget(job);
    this.notifyIdle();
    return true;
  }

  /** Resolves when nothing is queued or running (graceful shutdown). */
  whenIdle(): Promise<void> {
    this.flushing = true;
    this.schedule();
    if (this.pending.size === 0 && this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private forget(job: Job): void {
    this.pending.delete(job);
    this.queuedItems -= job.req.items;
  }

  private notifyIdle(): void {
    if (this.pending.size > 0 || this.inflight > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private schedule(): void {
    while (this.pending.size > 0) {
      let instance: Instance | undefined;
      for (const i of this.instances) if (i.running < PIPELINE_DEPTH && (!instance || i.running < instance.running)) instance = i;
      if (!instance) return;
      // With the instance already working, the next batch may as well keep gathering.
      const gathering = instance.running > 0;
      const oldest = this.pending.values().next().value as Job;
      const waited = nowNs() - oldest.enqueuedAt;
      // idle_dispatch: a free instance takes what is waiting now; batches still form under load
      // because requests gather while every instance is busy.
      if (!this.flushing && (!this.idleDispatch || gathering) && this.queuedItems < this.target && waited < this.delayNs) {
        this.arm(this.delayNs - waited);
        return;
      }
      const batch = this.take();
      if (batch.length === 0) return;
      this.dispatch(instance, batch);
    }
  }

  private arm(ns: bigint): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, Math.max(0, Math.ceil(Number(ns) / 1e6))).unref();
  }

  private take(): Job[] {
    const first = this.queue.shift();
    if (!first) return [];
    this.forget(first);
    const batch = [first];
    if (this.config.max_batch_size === 0) return batch;
    let items = first.req.items;
    const max = this.config.max_batch_size;
    // Fast path: the queue's own order while the next request fits.
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.req.signature !== first.req.signature || items + next.req.items > max) break;
      this.queue.shift();
      this.forget(next);
      batch.push(next);
      items += next.req.items;
    }
    // Then any other compatible waiting request, oldest first (the queue chose who goes first).
    if (items < max && this.pending.size > 0) {
      for (const job of [...this.pending]) {
        if (items >= max) break;
        if (job.req.signature !== first.req.signature || items + job.req.items > max) continue;
        if (!this.queue.remove(job)) continue;
        this.forget(job);
        batch.push(job);
        items += job.req.items;
      }
    }
    return batch;
  }

  private feeds(batch: Job[]): Record<string, WireTensor> {
    const feeds: Record<string, WireTensor> = {};
    const first = batch[0]!.req;
    first.inputs.forEach((input, idx) => {
      const ort = datatypeInfo[input.datatype].ort;
      const parts = batch.map((j) => j.req.inputs[idx]!);
      const dims = this.config.max_batch_size > 0 ? [parts.reduce((n, p) => n + p.shape[0]!, 0), ...input.shape.slice(1)] : input.shape;
      if (Array.isArray(input.data)) {
        feeds[input.name] = { type: ort, dims, data: parts.flatMap((p) => p.data as string[]) };
        return;
      }
      let bytes: Uint8Array;
      if (parts.length === 1) bytes = input.data as Uint8Array;
      else {
        bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let off = 0;
        for (const p of parts) {
          bytes.set(p.data as Uint8Array, off);
          off += p.byteLength;
        }
      }
      // Decoded inputs own their buffers exactly (see decode.ts), so they can be transferred.
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer;
      feeds[input.name] = { type: ort, dims, data: whole };
    });
    return feeds;
  }

  private dispatch(instance: Instance, batch: Job[]): void {
    instance.running++;
    this.inflight++;
    const started = nowNs();
    const items = batch.reduce((n, j) => n + j.req.items, 0);
    for (const j of batch) j.running = true;
    const live = batch.filter((j) => !j.settled);
    const ended = (ok: boolean, computeUs: number) => {
      for (const j of batch) j.done?.({ ok, computeUs, batchSize: items, device: instance.device, queueUs: Number((started - j.enqueuedAt) / 1000n) });
    };
    const finish = (ok: boolean, computeUs: number) => {
      instance.running--;
      this.inflight--;
      instance.worker.busy--;
      ended(ok, computeUs);
      this.onBatch({ batchSize: items, requests: batch.length, computeUs, ok });
      this.schedule();
      this.notifyIdle();
    };
    if (live.length === 0) {
      instance.running--;
      this.inflight--;
      ended(false, 0);
      this.schedule();
      this.notifyIdle();
      return;
    }
    instance.worker.busy++;
    let feeds: Record<string, WireTensor>;
    try {
      feeds = this.feeds(batch);
    } catch (err) {
      for (const j of batch) j.reject(err as Error);
      finish(false, 0);
      return;
    }
    instance.worker.run(this.key, feeds, this.outputNames, this.jsonSpecs(batch)).then(
      ({ outputs, computeUs, json }) => {
        try {
          this.split(batch, outputs, { started, computeUs, items, device: instance.device, json });
        } catch (err) {
          for (const j of batch) j.reject(err as Error);
        }
        finish(true, computeUs);
      },
      (err: Error) => {
        if (err instanceof WorkerCallError && err.kind === 'run' && batch.length > 1) {
          // One request's input can fail the whole batch, and the runtime's message may quote
          // its values: rerun each request alone, so only the bad one fails, with its own error.
          instance.running--;
          this.inflight--;
          instance.worker.busy--;
          this.onBatch({ batchSize: items, requests: batch.length, computeUs: 0, ok: false });
          for (const j of batch) this.dispatch(instance, [j]);
          return;
        }
        if (err instanceof WorkerCallError && (err.kind === 'run' || err.kind === 'output')) {
          // The session ran (or began to): each request of the batch is billed its share of that compute.
          const e =
            err.kind === 'run'
              ? new AppError('BAD_USER_INPUT', `the model could not run on this input: ${err.message.slice(0, 300)}`)
              : new AppError('BAD_USER_INPUT', `the model ran but its outputs could not be formatted: ${err.message.slice(0, 300)}`);
          for (const j of batch) j.reject(new BilledFailure(e, { ok: false, computeUs: err.computeUs, batchSize: items, device: instance.device, queueUs: Number((started - j.enqueuedAt) / 1000n) }));
          finish(false, err.computeUs);
          return;
        }
        for (const j of batch) j.reject(err);
        finish(false, 0);
      },
    );
  }

  /** Which outputs each request wants as JSON, so the worker formats them (row ranges in batch order). */
  private jsonSpecs(batch: Job[]): JsonSpec[] | undefined {
    const specs = new Map<string, JsonSpec>();
    let row = 0;
    for (const job of batch) {
      for (const o of job.req.outputs) {
        if (!wantsJsonText(job, o)) continue;
        let spec = specs.get(o.name);
        if (!spec) specs.set(o.name, (spec = { name: o.name, rows: [] }));
        spec.rows.push(this.config.max_batch_size > 0 ? [row, job.req.items] : [0, -1]);
      }
      row += job.req.items;
    }
    return specs.size > 0 ? [...specs.values()] : undefined;
  }

  private split(
    batch: Job[],
    outputs: Record<string, WireTensor>,
    info: { started: bigint; computeUs: number; items: number; device: ExecDevice; json?: Record<string, (string | null)[]> },
  ): void {
    let row = 0;
    const jsonCursor = new Map<string, number>();
    const jsonFor = (job: Job, name: string): string | null | undefined => {
      const o = job.req.outputs.find((x) => x.name === name);
      if (!o || !wantsJsonText(job, o) || !info.json?.[name]) return undefined;
      const i = jsonCursor.get(name) ?? 0;
      jsonCursor.set(name, i + 1);
      return info.json[name]![i];
    };
    for (const job of batch) {
      const tensors = new Map<string, OutputTensor>();
      let tooLarge: string | undefined;
      const jsonText = (name: string): string | undefined => {
        const text = jsonFor(job, name);
        if (text === null) tooLarge ??= name;
        return text ?? undefined;
      };
      for (const name of this.outputNames) {
        const t = outputs[name];
        if (!t) throw new Error(`model ${this.key} produced no output "${name}"`);
        const datatype = datatypeOfOrt(t.type) ?? this.config.outputs.find((o) => o.name === name)!.datatype;
        if (this.config.max_batch_size === 0) {
          tensors.set(name, { name, datatype, shape: t.dims, data: Array.isArray(t.data) ? t.data : new Uint8Array(t.data), jsonText: jsonText(name) });
          continue;
        }
        const total = t.dims[0];
        if (total !== info.items) throw new Error(`model ${this.key} output "${name}" has batch ${total}, expected ${info.items}`);
        const n = job.req.items;
        const shape = [n, ...t.dims.slice(1)];
        if (Array.isArray(t.data)) {
          const per = t.data.length / total;
          tensors.set(name, { name, datatype, shape, data: t.data.slice(row * per, (row + n) * per), jsonText: jsonText(name) });
        } else {
          const per = t.data.byteLength / total;
          tensors.set(name, { name, datatype, shape, data: new Uint8Array(t.data, row * per, n * per), jsonText: jsonText(name) });
        }
      }
      row += job.req.items;
      const queueUs = Number((info.started - job.enqueuedAt) / 1000n);
      if (tooLarge !== undefined) job.reject(new BilledFailure(outputTooLarge(tooLarge), { ok: true, queueUs, computeUs: info.computeUs, batchSize: info.items, device: info.device }));
      else job.resolve({ tensors, queueUs, computeUs: info.computeUs, batchSize: info.items, device: info.device });
    }
  }
}
