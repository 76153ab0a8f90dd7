/**
 * Embedded ClickHouse: `CLICKHOUSE_URL=chdb:<path>` runs the current ClickHouse engine (chDB,
 * the optional npm package `chdb`) inside this process, with its data under `<path>` (absolute,
 * or relative to the working directory). No server, no network.
 *
 * Invariants:
 * - One data directory per process (libchdb binds one), and one process per data directory: a
 *   lock file `<path>/tollgate.lock` holds the owner's pid; a second process gets a clear error.
 *   A lock left by a process that died (SIGKILL) is taken over, since its pid is gone.
 * - Every operation runs on a fresh chDB session (≈2 ms) closed afterwards: chDB sessions keep
 *   `SET` and `USE` state, and @clickhouse/client sends per-query settings as `SET` (a read's
 *   `readonly=2` would otherwise stick to the session and refuse every later write). The
 *   client's `database` is applied by a `USE` in front of each statement (chdb/connection
 *   ignores it).
 * - Queries run on libuv threads (chDB's async API), never on the event loop; at most
 *   EMBEDDED_CONCURRENCY operations are inside the engine at once, the rest wait in order.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { createClient } from '@clickhouse/client';

type Connection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;
type ChdbModule = { createChdbConnection(opts: { path: string }): Connection };

/** Operations allowed inside the engine at once (the rest queue, FIFO). */
export const EMBEDDED_CONCURRENCY = 4;
const LOCK_FILE = 'tollgate.lock';

export class EmbeddedClickHouseError extends Error {
  override readonly name = 'EmbeddedClickHouseError';
}

/** True when CLICKHOUSE_URL names the embedded engine. */
export function isEmbeddedUrl(url: string): boolean {
  return url.startsWith('chdb:');
}

/** The data directory of a `chdb:<path>` URL, made absolute against `cwd`. */
export function embeddedPath(url: string, cwd = process.cwd()): string {
  if (!isEmbeddedUrl(url)) throw new EmbeddedClickHouseError(`not an embedded ClickHouse URL: ${JSON.stringify(url)}`);
  let p = url.slice('chdb:'.length);
  if (p.startsWith('//')) p = p.slice(2); // chdb:///abs/path
  if (p === '' || p.includes('\0')) throw new EmbeddedClickHouseError(`CLICKHOUSE_URL=chdb:<path> needs a data directory, e.g. chdb:.state/chdb (got ${JSON.stringify(url)})`);
  return path.resolve(cwd, p);
}

let chdbModule: ChdbModule | undefined;

function loadChdb(): ChdbModule {
  if (chdbModule) return chdbModule;
  const require = createRequire(import.meta.url);
  try {
    chdbModule = require('chdb/connection') as ChdbModule;
  } catch (err) {
    throw new EmbeddedClickHouseError(
      `CLICKHOUSE_URL=chdb:… needs the optional package chdb (the ClickHouse engine as a library, ~540 MB; linux-x64/arm64 and macOS): npm install chdb@3.4.0 — ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
  return chdbModule;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `<dir>/tollgate.lock` for this process, or explains who holds it. */
function takeLock(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, LOCK_FILE);
  const body = `${process.pid}\n${os.hostname()}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const tmp = `${lock}.${process.pid}.${Date.now()}`;
    fs.writeFileSync(tmp, body);
    try {
      fs.linkSync(tmp, lock); // atomic: fails if the lock exists
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    let holder: string;
    try {
      holder = fs.readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    const [pidText, host] = holder.split('\n');
    const pid = Number(pidText);
    if (pid === process.pid) return lock;
    if (host === os.hostname() && !pidAlive(pid)) {
      fs.rmSync(lock, { force: true }); // its owner died without releasing it
      continue;
    }
    throw new EmbeddedClickHouseError(
      `embedded ClickHouse data directory ${dir} is in use by process ${pid}${host && host !== os.hostname() ? ` on ${host}` : ''} (${lock}); ` +
        'two processes cannot open one data directory: stop that process, or use another chdb:<path> (or a ClickHouse server)',
    );
  }
  throw new EmbeddedClickHouseError(`could not take the lock ${lock}`);
}

/** FIFO semaphore. */
class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<R>(fn: () => Promise<R>): Promise<R> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

interface Engine {
  dir: string;
  lock: string;
  anchor: Connection;
  gate: Gate;
  refs: number;
}

let engine: Engine | undefined;
let exitHook = false;

function acquireEngine(dir: string): Engine {
  if (engine) {
    if (engine.dir !== dir) {
      throw new EmbeddedClickHouseError(`this process already has the embedded ClickHouse at ${engine.dir} open; the engine holds one data directory per process (asked for ${dir})`);
    }
    engine.refs++;
    return engine;
  }
  const chdb = loadChdb();
  const lock = takeLock(dir);
  let anchor: Connection;
  try {
    // Keeps the engine up between operations (opening it costs ~0.4 s; a session on an open one ~2 ms).
    anchor = chdb.createChdbConnection({ path: dir });
  } catch (err) {
    fs.rmSync(lock, { force: true });
    throw new EmbeddedClickHouseError(`could not open the embedded ClickHouse at ${dir}: ${(err as Error).message}`, { cause: err });
  }
  engine = { dir, lock, anchor, gate: new Gate(EMBEDDED_CONCURRENCY), refs: 1 };
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      if (engine) fs.rmSync(engine.lock, { force: true });
    });
  }
  return engine;
}

async function releaseEngine(e: Engine): Promise<void> {
  if (--e.refs > 0) return;
  if (engine === e) engine = undefined;
  try {
    await e.anchor.close();
  } finally {
    fs.rmSync(e.lock, { force: true });
  }
}

/** The data directory this process has open, if any (for diagnostics and tests). */
export function openEmbeddedDirectory(): string | undefined {
  return engine?.dir;
}

const DATABASE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A `@clickhouse/client` Connection on the embedded engine, bound to `database`. Pass it as
 * `createClient({ connection })`; `close()` releases this process's hold on the data directory.
 */
export function createEmbeddedConnection(url: string, database: string): Connection {
  if (!DATABASE.test(database)) throw new EmbeddedClickHouseError(`invalid database name ${JSON.stringify(database)}`);
  const chdb = loadChdb();
  const e = acquireEngine(embeddedPath(url));
  const use = `USE \`${database}\`; `;
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  function withSession<R>(fn: (c: Connection) => Promise<R>): Promise<R> {
    if (closed) return Promise.reject(new EmbeddedClickHouseError('embedded ClickHouse connection is closed'));
    const p = e.gate.run(async () => {
      const c = chdb.createChdbConnection({ path: e.dir });
      try {
        return await fn(c);
      } finally {
        await c.close();
      }
    });
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  return {
    ping: async (params) => {
      if (closed) return { success: false, error: new EmbeddedClickHouseError('embedded ClickHouse connection is closed') };
      return withSession((c) => c.ping(params));
    },
    query: (params) => withSession((c) => c.query({ ...params, query: use + params.query })),
    command: (params) => withSession((c) => c.command({ ...params, query: use + params.query })),
    exec: (params) => withSession((c) => c.exec({ ...params, query: use + params.query })),
    insert: (params) => withSession((c) => c.insert({ ...params, query: use + params.query })),
    close: async () => {
      if (closed) return;
      closed = true;
      // Operations already started or queued still finish before this hold on the engine goes.
      await Promise.allSettled([...inFlight]);
      await releaseEngine(e);
    },
  };
}
