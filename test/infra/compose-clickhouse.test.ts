/**
 * The ClickHouse users file of docker-compose.yml, loaded by a real (throwaway) clickhouse-server:
 * the installed 18.16, started from a minimal config on free ports with an image-like base
 * users.xml and the compose file in users.d/ exactly as compose mounts it (secrets from a real run
 * of scripts/compose-secrets.mjs). Peers here come from 127.0.0.0/8, which is no private range:
 * every compose user must be refused from it. The application profile is exercised through a
 * probe user that uses that profile from 127.0.0.2 (Linux routes all of 127/8 to loopback).
 */
// engine-matrix: server only — loads docker-compose's users.xml into a ClickHouse server it starts; the embedded engine has no users or network
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeUsersXml, interpolateValues, parseDotEnv } from './compose-env.js';

const root = path.resolve(import.meta.dirname, '../..');
const PROBE_PASSWORD = 'probe-password-0f3a9c';

interface Reply {
  status: number;
  body: string;
}

function chQuery(port: number, sql: string, opts: { user?: string; password?: string; from?: string; params?: Record<string, string> } = {}): Promise<Reply> {
  const qs = new URLSearchParams({ ...(opts.user ? { user: opts.user, password: opts.password ?? '' } : {}), ...opts.params });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/?${qs}`, localAddress: opts.from ?? '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(sql);
  });
}

const codeOf = (r: Reply) => Number(/^Code: (\d+)/.exec(r.body)?.[1] ?? 0);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function clickhouseUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('clickhouse:'));
  if (!line) throw new Error('running as root but there is no clickhouse user (the Debian package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

let dir: string;
let server: ChildProcess;
let port: number;
let secrets: Map<string, string>;

beforeAll(async () => {
  const bin = ['/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'].find((b) => existsSync(b));
  if (!bin) throw new Error('clickhouse-server is not installed (npm run services installs it)');
  dir = mkdtempSync(path.join(tmpdir(), 'tollgate-ch-users-'));
  const envFile = path.join(dir, '.env');
  execFileSync(process.execPath, [path.join(root, 'scripts/compose-secrets.mjs'), '--out', envFile], { stdio: 'ignore' });
  secrets = parseDotEnv(readFileSync(envFile, 'utf8'));
  const compose = interpolateValues(parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { configs?: Record<string, unknown> }, secrets);

  port = await freePort();
  const tcpPort = await freePort();
  for (const sub of ['data/tmp', 'log', 'users.d']) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(
    path.join(dir, 'config.xml'),
    `<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>${port}</http_port><tcp_port>${tcpPort}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path><tmp_path>${dir}/data/tmp/</tmp_path><mark_cache_size>268435456</mark_cache_size>
  <users_config>${dir}/users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
</yandex>\n`,
  );
  // Like the image's own users.xml: a default profile, a passwordless default user open to all, a default quota.
  writeFileSync(
    path.join(dir, 'users.xml'),
    `<clickhouse>
  <profiles><default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default></profiles>
  <users><default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</clickhouse>\n`,
  );
  writeFileSync(path.join(dir, 'users.d/tollgate.xml'), composeUsersXml(compose));
  // Test-only probe users: the compose profiles, from an address the test can use.
  const probe = (name: string, profile: string) =>
    `<${name}><password>${PROBE_PASSWORD}</password><networks><ip>127.0.0.2</ip></networks><profile>${profile}</profile><quota>default</quota></${name}>`;
  writeFileSync(path.join(dir, 'users.d/zz-probe.xml'), `<clickhouse><users>${probe('app_probe', 'tollgate_app')}${probe('grafana_probe', 'grafana')}</users></clickhouse>\n`);

  const owner = clickhouseUser();
  if (owner) for (const f of ['', 'data', 'data/tmp', 'log', 'users.d', 'users.xml', 'config.xml', 'users.d/tollgate.xml', 'users.d/zz-probe.xml']) chownSync(path.join(dir, f), owner.uid, owner.gid);
  server = spawn(bin, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: 'ignore', ...(owner ?? {}) });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await chQuery(port, 'SELECT 1').then((r) => r.status === 200, () => false);
    if (up) break;
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`clickhouse-server did not start: ${existsSync(`${dir}/log/error.log`) ? readFileSync(`${dir}/log/error.log`, 'utf8').slice(-2000) : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const version = await chQuery(port, 'SELECT version()');
  expect(version.body.trim()).toMatch(/^\d+\.\d+/);
  await chQuery(port, 'CREATE TABLE default.events (tenant String, n UInt32) ENGINE = MergeTree ORDER BY tenant');
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the compose ClickHouse users on a real server', () => {
  it('refuses every compose user from outside the private ranges, with the right password', async () => {
    for (const [user, secret] of [['tollgate', 'CLICKHOUSE_APP_PASSWORD'], ['tollgate_migrate', 'CLICKHOUSE_MIGRATE_PASSWORD'], ['grafana', 'CLICKHOUSE_GRAFANA_PASSWORD']] as const) {
      const r = await chQuery(port, 'SELECT 1', { user, password: secrets.get(secret)! });
      expect(codeOf(r), `${user}: ${r.body.slice(0, 120)}`).toBe(195); // IP_ADDRESS_NOT_ALLOWED
      expect(r.body).toContain(`User ${user} is not allowed to connect from address 127.0.0.1`);
    }
  });

  it("keeps the image's default user to the container's loopback", async () => {
    expect((await chQuery(port, 'SELECT 1')).body.trim()).toBe('1');
    const r = await chQuery(port, 'SELECT 1', { from: '127.0.0.2' });
    expect(codeOf(r)).toBe(195);
  });

  it('the application profile inserts and reads but cannot run DDL, nor switch DDL back on with SET', async () => {
    const app = { user: 'app_probe', password: PROBE_PASSWORD, from: '127.0.0.2' };
    expect((await chQuery(port, "INSERT INTO default.events VALUES ('t1', 7)", app)).status).toBe(200);
    expect((await chQuery(port, "SELECT sum(n) FROM default.events WHERE tenant = 't1'", app)).body.trim()).toBe('7');
    // readonly=2 per query, as the client sets on reads, stays allowed.
    expect((await chQuery(port, 'SELECT count() FROM default.events', { ...app, params: { readonly: '2' } })).status).toBe(200);
    for (const ddl of [
      'CREATE TABLE default.planted (x UInt8) ENGINE = MergeTree ORDER BY x',
      'CREATE TEMPORARY TABLE planted (x UInt8)',
      'DROP TABLE default.events',
      "ALTER TABLE default.events DELETE WHERE tenant = 't1'",
      'RENAME TABLE default.events TO default.gone',
    ]) {
      const r = await chQuery(port, ddl, app);
      expect(codeOf(r), `${ddl}: ${r.body.slice(0, 160)}`).toBe(392); // QUERY_IS_PROHIBITED
    }
    const set = await chQuery(port, 'SET allow_ddl = 1', app);
    expect(codeOf(set)).toBe(392);
    expect(set.body).toContain("Cannot modify 'allow_ddl' setting when DDL queries are prohibited");
    expect((await chQuery(port, 'EXISTS TABLE default.planted')).body.trim()).toBe('0');
    expect((await chQuery(port, 'SELECT count() FROM default.events')).body.trim()).toBe('1');
  });

  it('the Grafana profile reads and cannot write', async () => {
    const grafana = { user: 'grafana_probe', password: PROBE_PASSWORD, from: '127.0.0.2' };
    expect((await chQuery(port, 'SELECT count() FROM default.events', grafana)).status).toBe(200);
    expect(codeOf(await chQuery(port, "INSERT INTO default.events VALUES ('t2', 1)", grafana))).toBe(164); // READONLY
  });
});
