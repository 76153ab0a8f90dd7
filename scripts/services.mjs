#!/usr/bin/env node
/**
 * Makes sure ClickHouse, PostgreSQL and Redis answer where CLICKHOUSE_URL, DATABASE_URL and
 * REDIS_URL point. Whatever already answers there is used as it is; where nothing answers, a
 * private instance is started from the installed (Debian) binaries, with its config and data under
 * `$TOLLGATE_STATE_DIR/services/<name>/` (default `<repo>/.state/services/`).
 *
 *   eval "$(node scripts/services.mjs)"   # up (default): prints KEY=value lines on stdout
 *   node scripts/services.mjs down        # stops only what `up` started (see started.json)
 *   node scripts/services.mjs env         # prints the settings without checking anything
 *
 * Stdout carries only the settings; every log line goes to stderr. Node builtins only: this runs
 * before node_modules exists (fresh clone, CI).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tollgate',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
};
const START_TIMEOUT_MS = 30_000;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const isRoot = process.getuid?.() === 0;

class Fatal extends Error {}
const log = (msg) => process.stderr.write(`[services] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Settings and output

function readSettings(env = process.env) {
  const out = {};
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const raw = env[key] || fallback;
    let url;
    try {
      url = new URL(raw);
    } catch {
      throw new Fatal(`${key} is not a valid URL: ${JSON.stringify(raw)}`);
    }
    out[key] = { raw, url, host: url.hostname, local: LOCAL_HOSTS.has(url.hostname) };
  }
  return out;
}

/** `KEY=value`, single-quoted for the shell only when the value needs it. */
function printSettings(settings) {
  const lines = Object.entries(settings).map(([key, { raw }]) =>
    /^[A-Za-z0-9_@%+=:,./-]+$/.test(raw) ? `${key}=${raw}` : `${key}='${raw.replaceAll("'", `'\\''`)}'`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Probes: 'up' | 'down' (nothing listens) | 'starting' | 'silent' (accepts, says nothing) | 'foreign'

/** Connects, writes `payload`, collects bytes until `complete(data)` or end/timeout. */
function tcpTalk(host, port, payload, complete, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: host.replace(/^\[|\]$/g, ''), port });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (result, goodbye) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (goodbye) socket.end(goodbye);
      else socket.destroy();
      setTimeout(() => socket.destroy(), 200).unref();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ data, timedOut: true }), timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const goodbye = complete(data);
      if (goodbye) finish({ data }, goodbye === true ? undefined : goodbye);
    });
    socket.on('end', () => finish({ data }));
    socket.on('error', (err) =>
      finish(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(err.code) ? { refused: err.code } : { data, error: err }),
    );
  });
}

const printable = (buf) => JSON.stringify(buf.subarray(0, 60).toString('latin1'));

async function probePostgres(host, port, url) {
  const user = decodeURIComponent(url.username) || 'postgres';
  const params = Buffer.from(`user\0${user}\0database\0postgres\0application_name\0tollgate-services\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
  const r = await tcpTalk(host, port, Buffer.concat([head, params]), (d) =>
    d.length >= 5 && d.length >= 1 + d.readInt32BE(1) ? terminate : d.length > 4096,
  );
  if (r.refused) return { state: 'down' };
  if (!r.data?.length) return { state: 'silent' };
  const type = String.fromCharCode(r.data[0]);
  const len = r.data.length >= 5 ? r.data.readInt32BE(1) : -1;
  if (type === 'R' && len >= 8 && len < 1024) return { state: 'up' };
  if (type === 'E' && len > 4 && len < 8192) {
    const fields = {};
    for (const part of r.data.subarray(5, 1 + len).toString('utf8').split('\0')) if (part) fields[part[0]] = part.slice(1);
    if (fields.C === '57P03') return { state: 'starting' };
    // Any other error (unknown role, bad password, too many clients) still proves it is Postgres.
    return { state: 'up', note: `${fields.C ?? ''} ${fields.M ?? ''}`.trim() };
  }
  return { state: 'foreign', detail: `answered ${printable(r.data)}` };
}

function probeClickHouse(host, port, url) {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = lib.get({ host: host.replace(/^\[|\]$/g, ''), port, path: '/ping', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve(res.statusCode === 200 && body.trim() === 'Ok.' ? { state: 'up' } : { state: 'foreign', detail: `GET /ping gave HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 60))}` }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(err.code)) resolve({ state: 'down' });
      else if (err.message === 'timeout' || err.code === 'ECONNRESET') resolve({ state: 'silent' });
      else resolve({ state: 'foreign', detail: `not HTTP (${err.code ?? err.message})` });
    });
  });
}

async function probeRedis(host, port, url) {
  const resp = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const password = decodeURIComponent(url.password);
  const user = decodeURIComponent(url.username);
  const auth = password ? resp('AUTH', ...(user ? [user] : []), password) : '';
  const replies = auth ? 2 : 1;
  const r = await tcpTalk(host, port, auth + resp('PING'), (d) => d.toString('latin1').split('\r\n').length > replies || d.length > 4096);
  if (r.refused) return { state: 'down' };
  if (!r.data?.length) return { state: 'silent' };
  const last = r.data.toString('latin1').split('\r\n').filter(Boolean).at(-1) ?? '';
  if (last === '+PONG') return { state: 'up' };
  if (last.startsWith('-LOADING')) return { state: 'starting' };
  if (/^-(NOAUTH|WRONGPASS|ERR invalid password|ERR AUTH)/.test(last)) return { state: 'up', note: last };
  return { state: 'foreign', detail: `answered ${printable(r.data)}` };
}

// ---------------------------------------------------------------------------------------------
// Processes, users, folders

function procState(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s*/, '')[0];
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie left unreaped by a minimal init counts as gone). */
function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;
  }
  const st = procState(pid);
  return st !== 'Z' && st !== 'X';
}

const cmdline = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

function lookupUser(name) {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (line) {
    const [, , uid, gid, , home] = line.split(':');
    return { name, uid: Number(uid), gid: Number(gid), home };
  }
  const id = spawnSync('id', [name], { encoding: 'utf8' });
  const m = /uid=(\d+).*gid=(\d+)/.exec(id.stdout ?? '');
  return m ? { name, uid: Number(m[1]), gid: Number(m[2]), home: '/' } : null;
}

/** spawn options that run a child as `user` (root only; otherwise we run as ourselves). */
const asUser = (user) => (user ? { uid: user.uid, gid: user.gid, env: { ...process.env, HOME: user.home, USER: user.name, LOGNAME: user.name } } : {});

function chownTo(file, user) {
  if (!user) return;
  const st = fs.statSync(file);
  if (st.uid !== user.uid || st.gid !== user.gid) fs.chownSync(file, user.uid, user.gid);
}

function findBinary(name, dirs = []) {
  const path_ = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of [...dirs, ...path_, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * The folder a service keeps its config, data and logs in, owned by the user it runs as. When
 * that user cannot reach the state folder (a repo under /root, say), a folder under /var/tmp
 * named after the state folder is used instead.
 */
function serviceDir(ctx, name, user) {
  const preferred = path.join(ctx.servicesDir, name);
  fs.mkdirSync(preferred, { recursive: true });
  if (!user) return preferred;
  chownTo(preferred, user);
  const reachable = spawnSync(findBinary('test') ?? '/usr/bin/test', ['-w', preferred, '-a', '-x', preferred], { ...asUser(user), stdio: 'ignore' });
  if (reachable.status === 0) return preferred;
  const hash = createHash('sha256').update(ctx.servicesDir).digest('hex').slice(0, 12);
  const fallback = path.join('/var/tmp', `tollgate-${hash}`, name);
  fs.mkdirSync(path.dirname(fallback), { recursive: true, mode: 0o755 });
  fs.mkdirSync(fallback, { recursive: true, mode: 0o700 });
  chownTo(fallback, user);
  fs.writeFileSync(path.join(preferred, 'LOCATION'), `${fallback}\n`);
  log(`${name}: user ${user.name} cannot reach ${preferred}; keeping its data in ${fallback}`);
  return fallback;
}

function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function freePort(preferred, avoid) {
  for (let p = preferred; p < preferred + 50 && p <= 65535; p++) if (!avoid.includes(p) && (await portIsFree(p))) return p;
  for (;;) {
    const p = await new Promise((resolve) => {
      const srv = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!avoid.includes(p)) return p;
  }
}

/** Runs a command to completion with its output on our stderr (never our stdout). */
function runOrFail(cmd, args, opts = {}, quiet = false) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', quiet ? 'pipe' : 2, quiet ? 'pipe' : 2], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    const output = quiet ? `\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim()}` : '';
    throw new Fatal(`${path.basename(cmd)} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})${output}`);
  }
}

/** Spawns a detached child (own session, stdin /dev/null, output to `logFile`) and waits for it to exit. */
function runDetached(cmd, args, logFile, opts = {}) {
  const fd = fs.openSync(logFile, 'a');
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...opts });
    fs.closeSync(fd);
    child.once('error', (err) => resolve({ code: -1, error: err }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function waitFor(label, probe, failed, timeoutMs = START_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probe();
    if (r.state === 'up') return;
    const why = failed();
    if (why) throw new Fatal(`${label} did not start: ${why}`);
    if (Date.now() > deadline) throw new Fatal(`${label} did not answer within ${timeoutMs / 1000} s (last: ${r.state}${r.detail ? `, ${r.detail}` : ''})`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// Installing

let aptUpdated = false;

function ensureInstalled(svc) {
  const found = svc.binaries();
  if (found) return found;
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${svc.packages.join(' ')}`;
  if (!isRoot || !findBinary('apt-get')) {
    throw new Fatal(`${svc.label} is not installed and nothing answers at ${svc.where}. Install it with:\n  sudo sh -c '${cmd}'\nor point ${svc.key} at a running ${svc.label}.`);
  }
  log(`${svc.label} is not installed: installing ${svc.packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) runOrFail('apt-get', ['update'], { env });
  aptUpdated = true;
  runOrFail('apt-get', ['install', '-y', ...svc.packages], { env });
  const installed = svc.binaries();
  if (!installed) throw new Fatal(`${svc.label}: apt-get installed ${svc.packages.join(' ')} but its programs are still not found`);
  return installed;
}

// ---------------------------------------------------------------------------------------------
// The three services

const clickhouseConfig = ({ dir, httpPort, tcpPort }) => `<?xml version="1.0"?>
<!-- Written by scripts/services.mjs; rewritten on every start. -->
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>100M</size><count>3</count></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/data/tmp/</tmp_path>
  <user_files_path>${dir}/data/user_files/</user_files_path>
  <format_schema_path>${dir}/data/format_schemas/</format_schema_path>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
`;

const clickhouseUsers = `<?xml version="1.0"?>
<!-- Written by scripts/services.mjs: one passwordless local user, as a development server. -->
<yandex>
  <profiles><default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

const SERVICES = [
  {
    name: 'clickhouse',
    label: 'ClickHouse',
    key: 'CLICKHOUSE_URL',
    defaultPort: 8123,
    packages: ['clickhouse-server', 'clickhouse-client'],
    probe: probeClickHouse,
    binaries: () => findBinary('clickhouse-server'),
    async start(ctx, port, bin) {
      const user = isRoot ? lookupUser('clickhouse') : null;
      if (isRoot && !user) throw new Fatal('ClickHouse must not run as root and there is no `clickhouse` user (the Debian package creates it)');
      const dir = serviceDir(ctx, 'clickhouse', user);
      for (const sub of ['data', 'data/tmp', 'log']) {
        fs.mkdirSync(path.join(dir, sub), { recursive: true });
        chownTo(path.join(dir, sub), user);
      }
      const tcpPort = await freePort(port + 777, [port]);
      const configFile = path.join(dir, 'config.xml');
      fs.writeFileSync(configFile, clickhouseConfig({ dir, httpPort: port, tcpPort }));
      fs.writeFileSync(path.join(dir, 'users.xml'), clickhouseUsers);
      for (const f of ['config.xml', 'users.xml']) chownTo(path.join(dir, f), user);
      const fd = fs.openSync(path.join(dir, 'log/stdout.log'), 'a');
      const child = spawn(bin, [`--config-file=${configFile}`], { detached: true, stdio: ['ignore', fd, fd], cwd: dir, ...asUser(user) });
      fs.closeSync(fd);
      let spawnError;
      child.once('error', (err) => (spawnError = err));
      child.unref();
      const entry = { name: 'clickhouse', port, tcpPort, pid: child.pid, dir, configFile, user: user?.name ?? null };
      await waitFor(`ClickHouse on 127.0.0.1:${port}`, () => probeClickHouse('127.0.0.1', port, new URL(`http://127.0.0.1:${port}`)), () =>
        spawnError ? spawnError.message : alive(child.pid) ? null : `it exited; ${dir}/log/error.log says:\n${tail(path.join(dir, 'log/error.log'))}`,
      );
      return entry;
    },
    async stop(entry) {
      if (!alive(entry.pid) || !cmdline(entry.pid).includes(entry.configFile)) return false;
      return killAndWait(entry.pid);
    },
  },
  {
    name: 'postgres',
    label: 'PostgreSQL',
    key: 'DATABASE_URL',
    defaultPort: 5432,
    packages: ['postgresql'],
    probe: probePostgres,
    binaries() {
      let versions = [];
      try {
        versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
      } catch {
        /* not Debian's layout */
      }
      for (const v of versions) if (findBinary('pg_ctl', [`/usr/lib/postgresql/${v}/bin`])?.startsWith('/usr/lib')) return `/usr/lib/postgresql/${v}/bin`;
      const pgCtl = findBinary('pg_ctl');
      return pgCtl && findBinary('initdb', [path.dirname(pgCtl)]) ? path.dirname(fs.realpathSync(pgCtl)) : null;
    },
    async start(ctx, port, binDir, url) {
      const user = isRoot ? lookupUser('postgres') : null;
      if (isRoot && !user) throw new Fatal('PostgreSQL refuses to run as root and there is no `postgres` user (the Debian package creates it)');
      const dir = serviceDir(ctx, 'postgres', user);
      const data = path.join(dir, 'data');
      const superuser = decodeURIComponent(url.username) || 'postgres';
      if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
        fs.rmSync(data, { recursive: true, force: true }); // a half-made cluster from an interrupted initdb
        log(`postgres: initdb ${data} (superuser ${superuser}, trust auth)`);
        runOrFail(path.join(binDir, 'initdb'), ['-D', data, '--auth=trust', `--username=${superuser}`, '--encoding=UTF8', '--no-locale', '--no-sync'], { cwd: dir, ...asUser(user) }, true);
      }
      const dataVersion = fs.readFileSync(path.join(data, 'PG_VERSION'), 'utf8').trim();
      const binVersion = /(\d+)/.exec(spawnSync(path.join(binDir, 'pg_ctl'), ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1];
      if (binVersion && binVersion !== dataVersion) throw new Fatal(`postgres: ${data} was made by PostgreSQL ${dataVersion} but ${binDir} is ${binVersion}; delete that folder to start afresh`);
      const socketDir = path.join(dir, 'run');
      fs.mkdirSync(socketDir, { recursive: true });
      chownTo(socketDir, user);
      // Unix socket paths are limited to 107 bytes; TCP is all we need anyway.
      const sockets = `${socketDir}/.s.PGSQL.${port}`.length < 100 ? socketDir : '';
      const logFile = path.join(dir, 'postgres.log');
      const opts = `-h 127.0.0.1 -p ${port} -k '${sockets}' -c max_connections=200`;
      const r = await runDetached(path.join(binDir, 'pg_ctl'), ['start', '-D', data, '-l', logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000), '-o', opts], path.join(dir, 'pg_ctl.log'), { cwd: dir, ...asUser(user) });
      if (r.code !== 0) throw new Fatal(`postgres: pg_ctl start failed (${r.error?.message ?? `exit ${r.code}`}); ${logFile} says:\n${tail(logFile)}`);
      const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      await waitFor(`PostgreSQL on 127.0.0.1:${port}`, () => probePostgres('127.0.0.1', port, url), () => (alive(pid) ? null : `it exited; ${logFile} says:\n${tail(logFile)}`));
      return { name: 'postgres', port, pid, dir, dataDir: data, binDir, user: user?.name ?? null };
    },
    async stop(entry) {
      if (!alive(entry.pid) || !fs.existsSync(path.join(entry.dataDir, 'postmaster.pid'))) return false;
      const user = entry.user ? lookupUser(entry.user) : null;
      const r = spawnSync(path.join(entry.binDir, 'pg_ctl'), ['stop', '-D', entry.dataDir, '-m', 'fast', '-w', '-t', '30'], { stdio: ['ignore', 2, 2], ...asUser(isRoot ? user : null) });
      if (r.status !== 0 && alive(entry.pid)) return killAndWait(entry.pid);
      return true;
    },
  },
  {
    name: 'redis',
    label: 'Redis',
    key: 'REDIS_URL',
    defaultPort: 6379,
    packages: ['redis-server'],
    probe: probeRedis,
    binaries: () => findBinary('redis-server'),
    async start(ctx, port, bin, url) {
      const dir = serviceDir(ctx, 'redis', null);
      const pidFile = path.join(dir, 'redis.pid');
      const logFile = path.join(dir, 'redis.log');
      fs.rmSync(pidFile, { force: true });
      const password = decodeURIComponent(url.password);
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'yes', '--pidfile', pidFile, '--dir', dir, '--logfile', logFile, '--save', '', '--appendonly', 'no'];
      if (password) args.push('--requirepass', password);
      const r = await runDetached(bin, args, path.join(dir, 'stdout.log'), { cwd: dir });
      if (r.code !== 0) throw new Fatal(`redis: redis-server failed (${r.error?.message ?? `exit ${r.code}`}); ${logFile} says:\n${tail(logFile)}`);
      const readPid = () => Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8').trim() : NaN);
      const started = Date.now();
      await waitFor(`Redis on 127.0.0.1:${port}`, () => probeRedis('127.0.0.1', port, url), () =>
        Date.now() - started > 2000 && !alive(readPid()) ? `it exited; ${logFile} says:\n${tail(logFile)}` : null,
      );
      return { name: 'redis', port, pid: readPid(), dir, pidFile };
    },
    async stop(entry) {
      if (!alive(entry.pid) || !cmdline(entry.pid).includes('redis-server')) return false;
      return killAndWait(entry.pid);
    },
  },
];

async function killAndWait(pid, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// State: what we started, and a lock so concurrent `up`s do not start things twice

function context() {
  const base = path.resolve(process.env.TOLLGATE_STATE_DIR || path.join(ROOT, '.state'));
  const servicesDir = path.join(base, 'services');
  return { servicesDir, startedFile: path.join(servicesDir, 'started.json') };
}

function readStarted(ctx) {
  try {
    const parsed = JSON.parse(fs.readFileSync(ctx.startedFile, 'utf8'));
    return Array.isArray(parsed.services) ? parsed.services : [];
  } catch {
    return [];
  }
}

function writeStarted(ctx, services) {
  const tmp = `${ctx.startedFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ services }, null, 2)}\n`);
  fs.renameSync(tmp, ctx.startedFile);
}

async function withLock(ctx, fn) {
  fs.mkdirSync(ctx.servicesDir, { recursive: true });
  const file = path.join(ctx.servicesDir, '.lock');
  const deadline = Date.now() + 15 * 60_000; // apt-get may hold it a while
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let holder = NaN;
      let age = 0;
      try {
        holder = Number(fs.readFileSync(file, 'utf8'));
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue;
      }
      if ((holder > 0 && !alive(holder)) || (!(holder > 0) && age > 10_000)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Fatal(`${file} is held by process ${holder}; remove it if that process is gone`);
      if (!told) log(`waiting for another services.mjs (pid ${holder}) to finish`);
      told = true;
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

function portOf(svc, url) {
  return Number(url.port) || (svc.name === 'clickhouse' && url.protocol === 'https:' ? 8443 : svc.defaultPort);
}

async function probeAll(settings, only = SERVICES) {
  return Promise.all(
    only.map(async (svc) => {
      const s = settings[svc.key];
      const port = portOf(svc, s.url);
      return { svc, port, ...s, where: `${s.host}:${port}`, ...(await svc.probe(s.host, port, s.url)) };
    }),
  );
}

function rejectForeign(results) {
  for (const r of results) {
    if (r.state === 'foreign' || r.state === 'silent') {
      const what = r.state === 'silent' ? 'it accepts connections but gives no valid reply' : r.detail;
      throw new Fatal(`${r.svc.key}: something else is listening at ${r.where} (${what}), not ${r.svc.label}. Free that port or point ${r.svc.key} elsewhere.`);
    }
  }
}

async function up() {
  const settings = readSettings();
  const ctx = context();
  let results = await probeAll(settings);
  rejectForeign(results);
  if (results.some((r) => r.state !== 'up')) {
    await withLock(ctx, async () => {
      results = await probeAll(settings); // another `up` may have started them meanwhile
      rejectForeign(results);
      let started = readStarted(ctx).filter((e) => alive(e.pid));
      for (const r of results.filter((x) => x.state === 'starting')) await waitFor(`${r.svc.label} at ${r.where}`, () => r.svc.probe(r.host, r.port, r.url), () => null);
      const missing = results.filter((r) => r.state === 'down');
      for (const r of missing) {
        if (!r.local) throw new Fatal(`${r.svc.key}: nothing answers at ${r.where}, and that host is not this machine, so it cannot be started here`);
        const ours = started.find((e) => e.name === r.svc.name);
        if (ours && ours.port !== r.port) throw new Fatal(`${r.svc.label} from ${ctx.servicesDir} already runs on port ${ours.port}; run \`node scripts/services.mjs down\` first, or use port ${ours.port}`);
      }
      const bins = new Map(missing.map((r) => [r.svc, ensureInstalled({ ...r.svc, where: r.where })]));
      // The Debian packages may have started their own service on the default port.
      const after = await probeAll(settings, missing.map((r) => r.svc));
      rejectForeign(after);
      for (const r of after.filter((x) => x.state === 'starting')) await waitFor(`${r.svc.label} at ${r.where}`, () => r.svc.probe(r.host, r.port, r.url), () => null);
      const toStart = after.filter((r) => r.state === 'down');
      const entries = await Promise.allSettled(
        toStart.map(async (r) => {
          log(`${r.svc.name}: nothing at ${r.where}; starting one (state in ${path.join(ctx.servicesDir, r.svc.name)})`);
          const entry = await r.svc.start(ctx, r.port, bins.get(r.svc), r.url);
          log(`${r.svc.name}: started on 127.0.0.1:${r.port} (pid ${entry.pid})`);
          return { ...entry, startedAt: new Date().toISOString() };
        }),
      );
      for (const e of entries) if (e.status === 'fulfilled') started = [...started.filter((x) => x.name !== e.value.name), e.value];
      writeStarted(ctx, started);
      const failure = entries.find((e) => e.status === 'rejected');
      if (failure) throw failure.reason;
    });
  } else {
    log(`all running: ${results.map((r) => `${r.svc.name} ${r.where}${r.note ? ` (${r.note})` : ''}`).join(', ')}`);
  }
  printSettings(settings);
}

async function down() {
  const ctx = context();
  if (!fs.existsSync(ctx.startedFile)) {
    log(`nothing to stop (no ${ctx.startedFile})`);
    return;
  }
  await withLock(ctx, async () => {
    const entries = readStarted(ctx);
    if (!entries.length) log('nothing to stop');
    const left = [];
    for (const entry of entries) {
      const svc = SERVICES.find((s) => s.name === entry.name);
      try {
        const stopped = svc ? await svc.stop(entry) : false;
        log(`${entry.name} on port ${entry.port}: ${stopped ? 'stopped' : 'was not running'}`);
      } catch (err) {
        log(`${entry.name} on port ${entry.port}: could not stop (${err.message})`);
        left.push(entry);
      }
    }
    writeStarted(ctx, left);
    if (left.length) throw new Fatal(`could not stop ${left.map((e) => e.name).join(', ')}`);
  });
}

const command = process.argv[2] ?? 'up';
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else if (command === 'env') printSettings(readSettings());
  else throw new Fatal(`unknown command ${JSON.stringify(command)}; use up, down or env`);
} catch (err) {
  log(err instanceof Fatal ? err.message : err.stack ?? String(err));
  process.exit(1);
}
