/** The three services: how to find, start and stop a private ClickHouse, PostgreSQL and Redis. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { probeClickHouse, probePostgres, probeRedis } from './probes.mjs';
import {
  Fatal, START_TIMEOUT_MS, alive, asUser, chownTo, cmdline, findBinary, freePort, isRoot, killAndWait, log,
  lookupUser, runDetached, runOrFail, serviceDir, tail, waitFor,
} from './system.mjs';

const xmlText = (s) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

const clickhouseConfig = ({ dir: rawDir, httpPort, tcpPort }, dir = xmlText(rawDir)) => `<?xml version="1.0"?>
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

export const SERVICES = [
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
