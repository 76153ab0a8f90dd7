/**
 * A fixed pool of session workers. Each model version is loaded into `instances` workers
 * (its "instances"); the batcher runs at most one batch per instance at a time. A worker that
 * dies is replaced and its sessions reloaded; the calls it had in flight fail.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ArenaRecycle, ExecDevice, JsonSpec, TensorInfo, WireTensor, WorkerRequest, WorkerResponse, WorkerSettings } from './protocol.js';

/** The worker must be compiled JavaScript: under vitest this module runs from .ts sources, so use dist/. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export function workerScriptPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'worker.js');
  const root = path.resolve(path.dirname(here), '../../..');
  const compiled = path.join(root, 'dist/inference/src/runtime/worker.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` first (session workers run compiled JavaScript)`);
  return compiled;
}

export class WorkerCallError extends Error {
  constructor(
    message: string,
    readonly kind: 'load' | 'run' | 'output' | 'internal' | 'crash',
    /** Compute the failed attempt took (µs), when the session ran. */
    readonly computeUs = 0,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(res: WorkerResponse): void;
  reject(err: Error): void;
}

interface Loaded {
  file: string;
  device: ExecDevice;
}

export class PoolWorker {
  worker!: Worker;
  readonly pending = new Map<number, Pending>();
  /** Sessions this worker holds, replayed when it is respawned. */
  readonly loaded = new Map<string, Loaded>();
  /** Batches currently dispatched to this worker. */
  busy = 0;
  private nextId = 1;
  private stopping = false;

  constructor(
    readonly index: number,
    private readonly script: string,
    private readonly intraOpThreads: number,
    private readonly logger: Logger,
    private readonly settings: WorkerSettings = { nice: 0, arenaRecycleBytes: 0 },
  ) {
    this.spawn();
  }

  private spawn(): void {
    const w = new Worker(this.script, { name: `tollgate-session-${this.index}`, workerData: this.settings });
    this.worker = w;
    w.on('message', (res: WorkerResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if ('arenaRecycle' in res && res.arenaRecycle) this.recycled(res.arenaRecycle);
      p.resolve(res);
    });
    w.on('error', (err) => this.logger.error({ err, worker: this.index }, 'session worker error'));
    w.on('exit', (code) => {
      if (w !== this.worker) return;
      for (const p of this.pending.values()) p.reject(new WorkerCallError(`session worker ${this.index} exited (code ${code})`, 'crash'));
      this.pending.clear();
      if (this.stopping) return;
      this.logger.error({ worker: this.index, code }, 'session worker died; respawning and reloading its models');
      this.spawn();
      for (const [key, l] of this.loaded) {
        this.load(key, l.file, l.device).catch((err) => this.logger.error({ err, key }, 'reload after worker crash failed'));
      }
    });
  }

  /** Runs that grew RSS past INFERENCE_ARENA_RECYCLE_BYTES, so their session is reloaded (now, or when the cooldown ends). */
  arenaRecycles = 0;

  private recycled(r: ArenaRecycle): void {
    this.arenaRecycles++;
    const fields = { worker: this.index, rssGrowthMiB: Math.round(r.rssGrowthBytes / 1048576), deferredMs: r.deferredMs };
    this.logger.info(fields, 'a run grew the onnxruntime arena past INFERENCE_ARENA_RECYCLE_BYTES: reloading its session');
  }

  private call<T extends WorkerResponse>(msg: WithoutId<WorkerRequest>, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    }).then((res) => {
      if (!res.ok) throw new WorkerCallError(res.error, res.kind, res.computeUs ?? 0);
      return res as T;
    });
  }

  async load(key: string, file: string, device: ExecDevice, quiet = false): Promise<{ inputs: TensorInfo[]; outputs: TensorInfo[] }> {
    const res = await this.call<Extract<WorkerResponse, { op: 'load' }>>({ op: 'load', key, file, device, intraOpThreads: this.intraOpThreads, quiet });
    if (!quiet) this.loaded.set(key, { file, device });
    return { inputs: res.inputs, outputs: res.outputs };
  }

  async unload(key: string): Promise<void> {
    this.loaded.delete(key);
    await this.call({ op: 'unload', key });
  }

  async run(
    key: string,
    feeds: Record<string, WireTensor>,
    outputs: string[],
    json?: JsonSpec[],
  ): Promise<{ outputs: Record<string, WireTensor>; computeUs: number; json?: Record<string, (string | null)[]> }> {
    const transfer = Object.values(feeds).flatMap((t) => (t.data instanceof ArrayBuffer ? [t.data] : []));
    const res = await this.call<Extract<WorkerResponse, { op: 'run' }>>({ op: 'run', key, feeds, outputs, json }, transfer);
    return { outputs: res.outputs, computeUs: res.computeUs, json: res.json };
  }

  /**
   * Stops the thread once it is idle: terminating it inside onnxruntime's native session
   * creation (e.g. an arena recycle just after the last answer) aborts the whole process.
   */
  async terminate(idleTimeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, idleTimeoutMs)));
    await Promise.race([this.call({ op: 'idle' }).catch(() => undefined), timeout]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}

export class WorkerPool {
  readonly workers: PoolWorker[];

  constructor(opts: { size: number; intraOpThreads: number; logger: Logger; nice?: number; arenaRecycleBytes?: number }) {
    const script = workerScriptPath();
    const settings: WorkerSettings = { nice: opts.nice ?? 0, arenaRecycleBytes: opts.arenaRecycleBytes ?? 0 };
    this.workers = Array.from({ length: opts.size }, (_, i) => new PoolWorker(i, script, opts.intraOpThreads, opts.logger, settings));
  }

  /** Workers for a new model's instances: the ones holding the fewest sessions first. */
  pick(instances: number): PoolWorker[] {
    const n = Math.max(1, Math.min(instances, this.workers.length));
    return [...this.workers].sort((a, b) => a.loaded.size - b.loaded.size || a.index - b.index).slice(0, n);
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
