/**
 * Idle leases come back before a refusal. Every process holds small leases of shared state
 * (rate tokens, finished requests' concurrency slots, quota units) that Redis counts as taken.
 * When Redis says a limit is reached, the process about to refuse asks the other processes,
 * on one pub/sub channel, to give back the idle part of that one lease; each answers once it
 * has done so (or had nothing idle), and the asker asks Redis once more. So a request is refused
 * only when no process had anything idle to give — the limit really is reached across replicas.
 *
 * Messages: `A <nonce> <proc> <kind> <id>` asks, `R <nonce>` answers (tab-separated). The asker
 * waits for as many answers as PUBLISH reached other subscribers, at most `timeoutMs` (a process
 * that does not answer in time keeps its lease and the request is refused). When the limit turns
 * out to be really reached (Redis still short after the answers, or no other process to ask),
 * the process trusts Redis alone for that lease for `quietMs`, and the holders asked keep no idle
 * lease of it for as long — so a tenant flooding past its limit costs one exchange per lease and
 * interval, not one per request, and Redis' word is exact meanwhile.
 */
import type { RedisGuard } from './redis-guard.js';
import type { Clock } from './types.js';

/** The leases that can be reclaimed: rate tokens, concurrency slots, quota units. */
export type LeaseKind = 'rl' | 'cc' | 'q';

/** Gives back the idle part of this process's lease `id` (a scope, or a quota counter id). */
export type GiveBackIdle = (id: string) => Promise<void>;

export interface LeaseReclaimDeps {
  guard: RedisGuard;
  channel: string;
  procId: string;
  clock: Clock;
  /** Longest wait for the other processes' answers (ms). */
  timeoutMs: number;
  /** One ask per lease and interval; holders stop hoarding that lease as long (ms). */
  quietMs: number;
}

interface Pending {
  expected: number | null;
  answers: number;
  done: () => void;
}

export class LeaseReclaim {
  private readonly owners = new Map<LeaseKind, GiveBackIdle>();
  private readonly pending = new Map<string, Pending>();
  /** kind + id -> the ask in flight. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** kind + id -> until when this process does not ask (the limit was really reached). */
  private readonly quiet = new Map<string, number>();
  private seq = 0;
  private listening = false;
  private onListening: Array<() => void> = [];

  constructor(private readonly deps: LeaseReclaimDeps) {}

  get quietMs(): number {
    return this.deps.quietMs;
  }

  /** Whether this process's subscription receives the channel (answers can reach it). */
  setListening(listening: boolean): void {
    this.listening = listening;
    if (listening) for (const f of this.onListening.splice(0)) f();
  }

  /** Registers the holder of one kind of lease. */
  own(kind: LeaseKind, giveBackIdle: GiveBackIdle): void {
    this.owners.set(kind, giveBackIdle);
  }

  /**
   * Asks every other process to give back its idle lease `id`; resolves once all answered (or
   * after `timeoutMs`) with true — ask Redis again — or false when there is no one to ask: Redis
   * down, no other process, not subscribed within `timeoutMs`, or the limit was confirmed within
   * `quietMs`.
   */
  ask(kind: LeaseKind, id: string): Promise<boolean> {
    const slot = kind + '\t' + id;
    const running = this.inFlight.get(slot);
    if (running) return running;
    const now = this.deps.clock();
    if (now < (this.quiet.get(slot) ?? 0) || !this.deps.guard.up) return Promise.resolve(false);
    const p = this.exchange(kind, id).then((asked) => {
      if (!asked) this.confirm(kind, id);
      return asked;
    });
    this.inFlight.set(slot, p);
    void p.finally(() => this.inFlight.delete(slot));
    return p;
  }

  /** The limit is really reached (Redis still short after asking): trust Redis alone for `quietMs`. */
  confirm(kind: LeaseKind, id: string): void {
    const now = this.deps.clock();
    if (this.quiet.size >= 10_000) for (const [slot, until] of this.quiet) if (until <= now) this.quiet.delete(slot);
    this.quiet.set(kind + '\t' + id, now + this.deps.quietMs);
  }

  private async exchange(kind: LeaseKind, id: string): Promise<boolean> {
    const nonce = `${this.deps.procId}:${++this.seq}`;
    let timer: NodeJS.Timeout | undefined;
    const p: Pending = { expected: null, answers: 0, done: () => {} };
    const answered = new Promise<void>((resolve) => {
      p.done = resolve;
      // One loop turn late: after an event-loop stall the timer and the answers are due together,
      // and the answers (read in the poll phase) must win.
      timer = setTimeout(() => setImmediate(resolve), this.deps.timeoutMs);
      timer.unref();
    });
    this.pending.set(nonce, p);
    try {
      // A process just started may still be subscribing: answers would not reach it yet.
      if (!this.listening) {
        let wake = () => {};
        await Promise.race([new Promise<void>((r) => this.onListening.push((wake = r))), answered]);
        this.onListening = this.onListening.filter((f) => f !== wake);
        if (!this.listening) return false;
      }
      const reached = await this.deps.guard.run('reclaim', (r) => r.publish(this.deps.channel, `A\t${nonce}\t${this.deps.procId}\t${kind}\t${id}`));
      // Our own subscription is among those reached; it does not answer itself.
      p.expected = Number(reached) - 1;
      if (p.expected <= 0) return false;
      if (p.answers >= p.expected) p.done();
      await answered;
      return true;
    } catch {
      return false; // Redis trouble: the guard logs it; the caller's refusal stands
    } finally {
      clearTimeout(timer);
      this.pending.delete(nonce);
    }
  }

  /** A message on the channel (wired to the admission subscription). */
  onMessage(message: string): void {
    const parts = message.split('\t');
    if (parts[0] === 'R') {
      const p = this.pending.get(parts[1] ?? '');
      if (!p) return;
      p.answers++;
      if (p.expected !== null && p.answers >= p.expected) p.done();
      return;
    }
    if (parts[0] !== 'A' || parts.length < 5) return;
    const [, nonce, proc, kind, ...rest] = parts;
    if (proc === this.deps.procId) return;
    const giveBack = this.owners.get(kind as LeaseKind);
    const done = giveBack ? giveBack(rest.join('\t')).catch(() => {}) : Promise.resolve();
    // Answer after the give-back reached Redis (same connection, so in order): the asker's next
    // call sees the returned lease.
    void done.then(() => this.deps.guard.run('reclaim', (r) => r.publish(this.deps.channel, `R\t${nonce}`)).catch(() => {}));
  }

  /** Answers every pending ask at once (shutdown). */
  close(): void {
    for (const p of this.pending.values()) p.done();
    for (const f of this.onListening.splice(0)) f();
  }
}
