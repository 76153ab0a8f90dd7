/**
 * The bare-machine proof for scripts/services.mjs: pointed at free ports with an empty state
 * folder, it must start ClickHouse, Postgres and Redis from the installed binaries, print exactly
 * the three settings, reuse them on a second `up`, and `down` must stop exactly those — never the
 * services this test run itself uses.
 */
// engine-matrix: server only — starts and stops ClickHouse, Postgres and Redis servers (scripts/services.mjs); its chdb: path is covered in embedded-fallback.test.ts
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const script = path.join(root, 'scripts/services.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function services(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { ...process.env, ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Distinct ports nothing listens on right now (all held open together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen({ host: '127.0.0.1', port: 0 }, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function pgSelectOne(url: string): Promise<{ one: number; user: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ one: number; user: string }>('SELECT 1 AS one, current_user AS user');
    return rows[0]!;
  } finally {
    await client.end();
  }
}

async function redisPing(url: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    return await redis.ping();
  } finally {
    redis.disconnect();
  }
}

async function clickhouse(url: string, pathAndQuery: string): Promise<string> {
  const res = await fetch(new URL(pathAndQuery, url));
  return (await res.text()).trim();
}

interface Entry {
  name: string;
  port: number;
  pid: number;
  dir: string;
}

async function started(stateDir: string): Promise<Entry[]> {
  const text = await readFile(path.join(stateDir, 'services/started.json'), 'utf8');
  return (JSON.parse(text) as { services: Entry[] }).services;
}

function uidOf(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/^Uid:\s+(\d+)/m.exec(s)![1]));
}

describe('scripts/services.mjs on free ports (bare machine)', { timeout: 180_000 }, () => {
  let stateDir: string;
  let env: Record<string, string>;
  let ports: { pg: number; ch: number; redis: number };
  let expectedLines: string[];
  const madeDirs = new Set<string>();

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-services-'));
    const [pgPort, chPort, redisPort] = await freePorts(3);
    ports = { pg: pgPort!, ch: chPort!, redis: redisPort! };
    env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${ports.pg}/tollgate`,
      CLICKHOUSE_URL: `http://127.0.0.1:${ports.ch}`,
      REDIS_URL: `redis://127.0.0.1:${ports.redis}/0`,
      TOLLGATE_STATE_DIR: stateDir,
    };
    expectedLines = [`DATABASE_URL=${env.DATABASE_URL}`, `CLICKHOUSE_URL=${env.CLICKHOUSE_URL}`, `REDIS_URL=${env.REDIS_URL}`];
  });

  afterAll(async () => {
    // Whatever happened above, leave nothing running and no data behind.
    await services(['down'], env);
    await rm(stateDir, { recursive: true, force: true });
    for (const dir of madeDirs) if (dir.startsWith('/var/tmp/tollgate-')) await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('starts all three and prints exactly the three settings on stdout', async () => {
    const run = await services(['up'], env);
    expect(run.stderr).toContain('starting one');
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual(expectedLines);

    const entries = await started(stateDir);
    for (const e of entries) madeDirs.add(e.dir);
    expect(entries.map((e) => [e.name, e.port]).sort()).toEqual([
      ['clickhouse', ports.ch],
      ['postgres', ports.pg],
      ['redis', ports.redis],
    ]);

    expect(await pgSelectOne(`postgres://postgres@127.0.0.1:${ports.pg}/postgres`)).toEqual({ one: 1, user: 'postgres' });
    expect(await clickhouse(env.CLICKHOUSE_URL!, '/ping')).toBe('Ok.');
    // users.xml took effect: the default profile allows LowCardinality on 18.16.
    const setting = await clickhouse(env.CLICKHOUSE_URL!, `/?query=${encodeURIComponent("SELECT value FROM system.settings WHERE name = 'allow_experimental_low_cardinality_type'")}`);
    expect(setting).toBe('1');
    expect(await redisPing(env.REDIS_URL!)).toBe('PONG');

    // ClickHouse and Postgres never run as root.
    for (const name of ['clickhouse', 'postgres']) {
      const pid = entries.find((e) => e.name === name)!.pid;
      expect(await uidOf(pid)).not.toBe(0);
    }
  });

  it('a second up reuses what runs and starts nothing', async () => {
    const before = await started(stateDir);
    const run = await services(['up'], env);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual(expectedLines);
    expect(run.stderr).toContain('all running');
    expect(run.stderr).not.toContain('starting one');
    expect(await started(stateDir)).toEqual(before);
  });

  it('env prints the settings without checking anything', async () => {
    const run = await services(['env'], { ...env, REDIS_URL: 'redis://127.0.0.1:1/0' });
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toEqual([expectedLines[0], expectedLines[1], 'REDIS_URL=redis://127.0.0.1:1/0']);
  });

  it('refuses a port held by something that is not the expected service', async () => {
    const impostor = net.createServer((socket) => socket.resume().end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => impostor.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (impostor.address() as net.AddressInfo).port;
    try {
      const before = await started(stateDir);
      const run = await services(['up'], { ...env, REDIS_URL: `redis://127.0.0.1:${port}/0` });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`REDIS_URL: something else is listening at 127.0.0.1:${port}`);
      expect(await started(stateDir)).toEqual(before);
    } finally {
      await new Promise((r) => impostor.close(r));
    }
  });

  it('down stops exactly what up started, leaving the run’s own services alone', async () => {
    const run = await services(['down'], env);
    expect(run.code).toBe(0);
    expect(await started(stateDir)).toEqual([]);
    for (const port of [ports.pg, ports.ch, ports.redis]) expect(await refused(port)).toBe(true);

    // The services this test run uses (set up by the global setup) still answer.
    const runDb = new URL(inject('DATABASE_URL'));
    runDb.pathname = '/postgres';
    expect((await pgSelectOne(runDb.toString())).one).toBe(1);
    expect(await clickhouse(inject('CLICKHOUSE_URL'), '/ping')).toBe('Ok.');
    expect(await redisPing(inject('REDIS_URL'))).toBe('PONG');

    const again = await services(['down'], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('nothing to stop');
  });

  it('starts again from the kept data folders without re-initialising them', async () => {
    const run = await services(['up'], env);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('initdb');
    expect(await pgSelectOne(`postgres://postgres@127.0.0.1:${ports.pg}/postgres`)).toEqual({ one: 1, user: 'postgres' });
    expect(await clickhouse(env.CLICKHOUSE_URL!, '/ping')).toBe('Ok.');
    const down = await services(['down'], env);
    expect(down.code).toBe(0);
    for (const port of [ports.pg, ports.ch, ports.redis]) expect(await refused(port)).toBe(true);
  });
});
