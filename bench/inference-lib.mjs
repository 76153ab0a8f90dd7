/**
 * Shared pieces of the inference benchmarks (run after `npm run build`; they import dist/):
 * - startInference(): the real inference server (compiled code) on 127.0.0.1:0 over a temporary
 *   repository holding the chosen models, a static in-memory API key, allowAll admission and a
 *   counting usage sink (so we measure the serving path, not Postgres or the WAL).
 * - runLoad(): a load generator in a SEPARATE node process (so it does not share the server's
 *   event loop): node:http with a keep-alive agent, N concurrent loops for a fixed duration,
 *   reporting requests/s and latency percentiles.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');

export const KEY = 'bench-secret';
const principal = { keyId: '00000000-0000-4000-8000-00000000b001', tenantId: '00000000-0000-4000-8000-00000000b002', role: 'member' };

export async function startInference({ models, env = {}, beforeListen } = {}) {
  const { createInferenceServer } = await import(path.join(root, 'dist/inference/src/index.js'));
  const { loadConfig } = await import(path.join(root, 'dist/src/config/index.js'));
  const { createLogger } = await import(path.join(root, 'dist/src/shared/logger.js'));
  const { allowAll } = await import(path.join(root, 'dist/src/quotas/contract.js'));
  const repo = mkdtempSync(path.join(tmpdir(), 'tollgate-bench-models-'));
  for (const m of models) symlinkSync(path.join(root, 'inference/models', m), path.join(repo, m));
  const config = loadConfig({ ...process.env, TOLLGATE_MODEL_REPOSITORY: repo, INFERENCE_DEVICE: 'cpu', INFERENCE_REPOSITORY_POLL_MS: '0', LOG_LEVEL: 'warn', ...env });
  const usage = { count: 0 };
  const server = await createInferenceServer({
    config,
    logger: createLogger({ level: 'warn' }),
    authenticate: async (s) => (s === KEY ? principal : null),
    usageSink: { async record() { usage.count++; }, accepting: () => true },
    admission: allowAll,
  });
  if (beforeListen) beforeListen(server.app);
  const { port } = await server.listen(0, '127.0.0.1');
  return {
    server,
    port,
    usage,
    async close() {
      await server.close();
      rmSync(repo, { recursive: true, force: true });
    },
  };
}

/** Runs a load generator child; `request` = { path, body (base64), headers }. */
export function runLoad({ port, request, concurrency, seconds, warmupSeconds = 1 }) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--loadgen'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => {
      child.kill();
      resolve(m);
    });
    child.once('error', reject);
    child.send({ port, request, concurrency, seconds, warmupSeconds });
  });
}

export function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function loadgen({ port, request, concurrency, seconds, warmupSeconds }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = Buffer.from(request.body, 'base64');
  const headers = { ...request.headers, 'content-length': String(body.length) };
  const once = () =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = http.request({ host: '127.0.0.1', port, path: request.path, method: 'POST', agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve({ status: res.statusCode, us: Number(process.hrtime.bigint() - t0) / 1000 }));
      });
      req.on('error', reject);
      req.end(body);
    });
  let measuring = false;
  let stop = false;
  const lat = [];
  let errors = 0;
  let firstError;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stop) {
      const r = await once();
      if (!measuring) continue;
      if (r.status !== 200) {
        errors++;
        firstError ??= r.status;
      } else lat.push(r.us);
    }
  });
  await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  lat.sort((a, b) => a - b);
  return { rps: lat.length / elapsed, ok: lat.length, errors, firstError, p50us: pct(lat, 50), p99us: pct(lat, 99) };
}

if (process.argv.includes('--loadgen')) {
  process.once('message', async (opts) => {
    try {
      process.send(await loadgen(opts));
    } catch (err) {
      process.send({ error: String(err) });
    }
  });
}

export function jsonRequest(model, inputs, extra = {}) {
  const body = Buffer.from(JSON.stringify({ inputs, ...extra }));
  return { path: `/v2/models/${model}/infer`, body: body.toString('base64'), headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } };
}

export function binaryRequest(model, header, tensors) {
  const head = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([head, ...tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]);
  return {
    path: `/v2/models/${model}/infer`,
    body: body.toString('base64'),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length), authorization: `Bearer ${KEY}` },
  };
}

export function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}
