/**
 * Loaded models: one DynamicBatcher per model version, its sessions spread over the pool.
 * `sync()` rescans the repository and loads new or changed versions (hot reload), and drains
 * then unloads removed ones. Visibility is enforced here: a model private to another tenant
 * is indistinguishable from a missing one.
 */
import type { Logger } from 'pino';
import type { TenantQueueFactory } from '../../../src/quotas/index.js';
import { DynamicBatcher, type BatchEvent, type Instance, type Job } from '../batcher/batcher.js';
import type { WorkerPool } from '../runtime/pool.js';
import type { ExecDevice } from '../runtime/protocol.js';
import type { ModelConfig } from './config.js';
import { scanRepository, type ModelVersionSpec } from './repository.js';

export interface LoadedVersion {
  spec: ModelVersionSpec;
  batcher: DynamicBatcher;
}

export interface Resolved {
  name: string;
  config: ModelConfig;
  versions: string[];
  /** The requested version, or the newest one when none was named. */
  version: LoadedVersion | undefined;
}

export interface RegistryDeps {
  root: string;
  pool: WorkerPool;
  device: ExecDevice;
  logger: Logger;
  queueFactory: TenantQueueFactory;
  defaultQueueCapacity: number;
  onBatch: (model: string, version: string, e: BatchEvent) => void;
}

const byNumber = (a: string, b: string) => Number(a) - Number(b);

export class ModelRegistry {
  private readonly loaded = new Map<string, LoadedVersion>(); // "name/version"
  /** Repository entries that cannot be served, by model: logged when they appear or change, not on every rescan. */
  private problems = new Map<string, string>();
  /** Versions whose model file failed to load, by fingerprint: not retried until a file changes. */
  private failed = new Map<string, { fingerprint: string; error: string }>();
  private generation = 0;
  private syncing: Promise<void> | undefined;

  constructor(private readonly deps: RegistryDeps) {}

  /** Rescans the repository; concurrent calls share one pass. */
  sync(): Promise<void> {
    this.syncing ??= this.doSync().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  /** Model files present in the repository (used to probe the execution provider). */
  static firstModelFile(root: string): string | undefined {
    return scanRepository(root).versions[0]?.file;
  }

  private async doSync(): Promise<void> {
    const { versions, problems } = scanRepository(this.deps.root);
    const now = new Map(problems.map((p) => [p.model, p.error]));
    for (const [model, error] of now) {
      if (this.problems.get(model) !== error) this.deps.logger.error({ model, error }, 'model repository entry skipped (not served)');
    }
    this.problems = now;
    const wanted = new Map(versions.map((v) => [`${v.name}/${v.version}`, v]));
    const loads: Promise<void>[] = [];
    for (const [id, spec] of wanted) {
      const cur = this.loaded.get(id);
      if (cur && cur.spec.fingerprint === spec.fingerprint) continue;
      if (this.failed.get(id)?.fingerprint === spec.fingerprint) continue;
      loads.push(this.load(id, spec, cur));
    }
    for (const id of this.failed.keys()) if (!wanted.has(id)) this.failed.delete(id);
    for (const [id, cur] of this.loaded) {
      if (!wanted.has(id)) {
        this.loaded.delete(id);
        this.reindex();
        this.deps.logger.info({ model: cur.spec.name, version: cur.spec.version }, 'model version removed from the repository; unloading');
        void this.retire(cur);
      }
    }
    await Promise.all(loads);
  }

  private async load(id: string, spec: ModelVersionSpec, previous: LoadedVersion | undefined): Promise<void> {
    const key = `${id}#${++this.generation}`;
    const workers = this.deps.pool.pick(spec.config.instance_count);
    try {
      const metas = await Promise.all(workers.map((w) => w.load(key, spec.file, this.deps.device)));
      const meta = metas[0]!;
      const names = (xs: { name: string }[]) => xs.map((x) => x.name).sort().join(',');
      if (names(meta.inputs) !== names(spec.config.inputs) || names(meta.outputs) !== names(spec.config.outputs)) {
        throw new Error(`config.json tensors (${names(spec.config.inputs)} -> ${names(spec.config.outputs)}) do not match the model file (${names(meta.inputs)} -> ${names(meta.outputs)})`);
      }
    } catch (err) {
      this.deps.logger.error({ model: spec.name, version: spec.version, err: (err as Error).message }, 'model version failed to load; not served');
      this.failed.set(id, { fingerprint: spec.fingerprint, error: (err as Error).message });
      await Promise.all(workers.map((w) => w.unload(key).catch(() => {})));
      return;
    }
    const instances: Instance[] = workers.map((worker) => ({ worker, device: this.deps.device, running: 0 }));
    const capacity = spec.config.dynamic_batching?.max_queue_size ?? this.deps.defaultQueueCapacity;
    const queue = this.deps.queueFactory<Job>({ capacity });
    const batcher = new DynamicBatcher(key, spec.config, instances, queue, (e) => this.deps.onBatch(spec.name, spec.version, e));
    this.loaded.set(id, { spec, batcher });
    this.failed.delete(id);
    this.reindex();
    this.deps.logger.info({ model: spec.name, version: spec.version, instances: instances.length, device: this.deps.device, file: spec.file }, previous ? 'model version reloaded' : 'model version loaded');
    if (previous) void this.retire(previous);
  }

  private async retire(v: LoadedVersion): Promise<void> {
    await v.batcher.whenIdle();
    await Promise.all(v.batcher.instances.map((i) => i.worker.unload(v.batcher.key).catch(() => {})));
  }

  private visibleTo(config: ModelConfig, tenantId: string): boolean {
    return config.visibility === 'shared' || config.visibility.tenant === tenantId;
  }

  /** Undefined for a missing model, a missing version and another tenant's private model alike. */
  resolve(name: string, version: string | undefined, tenantId: string): Resolved | undefined {
    const all = (this.byName.get(name) ?? []).filter((v) => this.visibleTo(v.spec.config, tenantId));
    if (all.length === 0) return undefined;
    const versions = all.map((v) => v.spec.version);
    const loaded = version === undefined ? all[all.length - 1]! : all.find((v) => v.spec.version === version);
    if (!loaded) return undefined;
    return { name, config: loaded.spec.config, versions, version: loaded };
  }

  /** name -> loaded versions sorted by number, rebuilt whenever the loaded set changes. */
  private byName = new Map<string, LoadedVersion[]>();

  private reindex(): void {
    const m = new Map<string, LoadedVersion[]>();
    for (const v of this.loaded.values()) {
      const list = m.get(v.spec.name) ?? [];
      list.push(v);
      m.set(v.spec.name, list);
    }
    for (const list of m.values()) list.sort((a, b) => byNumber(a.spec.version, b.spec.version));
    this.byName = m;
  }

  /** Model names and versions a tenant may see (for logs and the index). */
  list(tenantId?: string): { name: string; version: string }[] {
    return [...this.loaded.values()]
      .filter((v) => tenantId === undefined || this.visibleTo(v.spec.config, tenantId))
      .map((v) => ({ name: v.spec.name, version: v.spec.version }));
  }

  /** Models in the repository that are not served, with the reason (e.g. missing files). */
  skipped(): { model: string; error: string }[] {
    return [...[...this.problems].map(([model, error]) => ({ model, error })), ...[...this.failed].map(([id, f]) => ({ model: id, error: f.error }))];
  }

  all(): LoadedVersion[] {
    return [...this.loaded.values()];
  }

  get size(): number {
    return this.loaded.size;
  }

  /** Lets every batcher finish what it holds (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.loaded.values()].map((v) => v.batcher.whenIdle()));
  }
}
