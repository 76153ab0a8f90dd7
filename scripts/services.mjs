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
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICES as ALL_SERVICES } from './services/definitions.mjs';
import { embeddedFallback, isEmbeddedUrl } from './services/embedded.mjs';
import { Fatal, alive, ensureInstalled, log, readStarted, waitFor, withLock, writeStarted } from './services/system.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tollgate',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
};
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
// CLICKHOUSE_URL=chdb:<path> is the embedded engine inside Tollgate's process: no server to check.
const SERVICES = isEmbeddedUrl(process.env.CLICKHOUSE_URL) ? ALL_SERVICES.filter((s) => s.key !== 'CLICKHOUSE_URL') : ALL_SERVICES;

// ---------------------------------------------------------------------------------------------
// Settings and output

function readSettings(env = process.env) {
  const out = {};
  for (const [key, fallback] of Object.entries(DEFAULTS)) {
    const raw = env[key] || fallback;
    if (key === 'CLICKHOUSE_URL' && isEmbeddedUrl(raw)) {
      out[key] = { raw, embedded: true };
      continue;
    }
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
// Where this checkout keeps its services (TOLLGATE_STATE_DIR, default <repo>/.state)

function context() {
  const base = path.resolve(process.env.TOLLGATE_STATE_DIR || path.join(ROOT, '.state'));
  const servicesDir = path.join(base, 'services');
  return { servicesDir, startedFile: path.join(servicesDir, 'started.json') };
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
  if (settings.CLICKHOUSE_URL.embedded) log(`clickhouse: embedded engine (${settings.CLICKHOUSE_URL.raw}), no server needed`);
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
      const apt = { updated: false };
      const bins = new Map();
      for (const r of [...missing]) {
        try {
          bins.set(r.svc, ensureInstalled({ ...r.svc, where: r.where }, apt));
        } catch (err) {
          // `npm run up` on a machine without a ClickHouse server: the embedded engine, if installed.
          const fallback = r.svc.name === 'clickhouse' && err instanceof Fatal ? embeddedFallback({ root: ROOT, stateBase: path.dirname(ctx.servicesDir), reason: err.message }) : null;
          if (!fallback) throw err;
          log(fallback.message);
          settings.CLICKHOUSE_URL = { raw: fallback.url, embedded: true };
          missing.splice(missing.indexOf(r), 1);
        }
      }
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
