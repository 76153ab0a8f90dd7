/**
 * The sessions of one worker thread, and the bound on onnxruntime's CPU arena.
 *
 * The arena grows to the largest run a session has seen and never shrinks (the run option that
 * would shrink it is not exposed by onnxruntime-node): one large ocr-rec request pinned ~350 MB
 * for good. Turning the arena off is no fix — every intermediate then goes through malloc and
 * that run took 3.5 s instead of 0.27 s here. A new session starts with an empty arena and
 * releasing the old one frees it, so a run that grew the process RSS past the bound has its
 * session made again right after it answers. At most one reload per session per cooldown: a
 * workload that is legitimately that large each time pays a reload per cooldown, not per run;
 * a reload deferred by the cooldown happens when it ends, so the memory is held for at most that.
 */
import ort from 'onnxruntime-node';
import type { ArenaRecycle } from './protocol.js';

export const ARENA_RECYCLE_COOLDOWN_MS = 30_000;

export interface Held {
  session: ort.InferenceSession;
  file: string;
  options: ort.InferenceSession.SessionOptions;
  /** When this session (or the one it replaced) was last made by a recycle. */
  recycledAt: number;
  deferred?: NodeJS.Timeout;
}

export class SessionStore {
  private readonly sessions = new Map<string, Held>();
  private quiet = false;

  constructor(
    private readonly opts: {
      /** RSS growth in one run above which the session is remade; 0 = never. */
      recycleBytes: number;
      /** Runs work on the worker's message chain (no overlap with session runs). */
      enqueue: (work: () => Promise<void>) => void;
      cooldownMs?: number;
    },
  ) {}

  get(key: string): Held | undefined {
    return this.sessions.get(key);
  }

  async load(key: string, file: string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
    const session = await ort.InferenceSession.create(file, options);
    const old = this.sessions.get(key);
    this.sessions.set(key, { session, file, options, recycledAt: 0 });
    if (old) await this.drop(old);
    return session;
  }

  async unload(key: string): Promise<void> {
    const held = this.sessions.get(key);
    this.sessions.delete(key);
    if (held) await this.drop(held);
  }

  /** After a run (ok or failed) of `held` that grew RSS by `rssGrowthBytes`: what to report, and work to do once answered. */
  afterRun(key: string, held: Held, rssGrowthBytes: number): { arenaRecycle?: ArenaRecycle; after?: () => Promise<void> } {
    if (this.opts.recycleBytes <= 0 || rssGrowthBytes <= this.opts.recycleBytes || this.quiet) return {};
    const wait = held.recycledAt + (this.opts.cooldownMs ?? ARENA_RECYCLE_COOLDOWN_MS) - Date.now();
    if (wait <= 0) return { arenaRecycle: { rssGrowthBytes }, after: () => this.recycle(key, held) };
    held.deferred ??= setTimeout(() => this.opts.enqueue(() => this.recycle(key, held)), wait);
    return { arenaRecycle: { rssGrowthBytes, deferredMs: wait } };
  }

  /** No more reloads: the thread is about to stop (terminating it inside session creation aborts the process). */
  quiesce(): void {
    this.quiet = true;
    for (const held of this.sessions.values()) clearTimeout(held.deferred);
  }

  private async recycle(key: string, held: Held): Promise<void> {
    if (this.quiet || this.sessions.get(key) !== held) return; // stopping, or unloaded/replaced meanwhile
    const session = await ort.InferenceSession.create(held.file, held.options).catch(() => null);
    if (!session) return; // keep serving with the old session rather than with none
    this.sessions.set(key, { session, file: held.file, options: held.options, recycledAt: Date.now() });
    await this.drop(held);
  }

  private async drop(held: Held): Promise<void> {
    clearTimeout(held.deferred);
    await held.session.release();
  }
}
