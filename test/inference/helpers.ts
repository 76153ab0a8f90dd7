/**
 * Helpers for the inference tests: a temporary model repository built from the real one,
 * a real server on 127.0.0.1:0, and a small OIP client.
 */
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { allowAll, type Admission, type TenantQueueFactory } from '../../src/quotas/index.js';
import type { ResponseStore } from '../../src/idempotency/index.js';
import { MemoryUsageSink, type UsageSink } from '../../src/usage/index.js';
import { createInferenceServer, type InferenceServer } from '../../inference/src/index.js';
import type { ApiKeyLookup, ApiKeyRecord, FailedAuthLimiter } from '../../src/identity/index.js';

export const root = path.resolve(import.meta.dirname, '../..');
export const modelsDir = path.join(root, 'inference/models');

/** Config overrides for one model copy in a temporary repository. */
export interface ModelCopy {
  from: string;
  as?: string;
  config?: Record<string, unknown>;
}

/** A temporary repository with copies of real models (model files are symlinked, not copied). */
export function makeRepo(models: (string | ModelCopy)[]): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-models-'));
  for (const m of models) {
    const spec = typeof m === 'string' ? { from: m } : m;
    addModel(dir, spec);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function addModel(dir: string, spec: ModelCopy, versions: string[] = ['1']): void {
  const src = path.join(modelsDir, spec.from);
  const dst = path.join(dir, spec.as ?? spec.from);
  mkdirSync(dst, { recursive: true });
  const config = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(src, '1', 'model.onnx');
  // Packaged models have no version folder: their config points into node_modules.
  if (existsSync(file)) {
    for (const v of versions) {
      mkdirSync(path.join(dst, v), { recursive: true });
      symlinkSync(file, path.join(dst, v, 'model.onnx'));
    }
  }
  // Files beside config.json (labels files) come along.
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'config.json') cpSync(path.join(src, entry.name), path.join(dst, entry.name));
  }
  writeFileSync(path.join(dst, 'config.json'), JSON.stringify({ ...config, ...spec.config }));
}

export function copyModelFolder(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

export interface StartOptions {
  repo: string;
  env?: Record<string, string>;
  authenticate?: ApiKeyLookup;
  failedAuth?: FailedAuthLimiter;
  usageSink?: UsageSink;
  admission?: Admission;
  queueFactory?: TenantQueueFactory;
  logger?: Logger;
  tracer?: Tracer;
  responses?: ResponseStore;
}

export interface Running {
  server: InferenceServer;
  base: string;
  sink: MemoryUsageSink;
  close(): Promise<void>;
}

/** A simple in-test key map, for suites that do not test authentication itself. */
export function staticKeys(): { authenticate: (s: string) => Promise<ApiKeyRecord | null>; add(tenantId?: string): { secret: string; principal: ApiKeyRecord } } {
  const keys = new Map<string, ApiKeyRecord>();
  return {
    authenticate: async (s) => keys.get(s) ?? null,
    add(tenantId = randomUUID()) {
      const secret = `test_${randomUUID()}`;
      const principal = { keyId: randomUUID(), tenantId, role: 'member' };
      keys.set(secret, principal);
      return { secret, principal };
    },
  };
}

export async function startServer(opts: StartOptions): Promise<Running> {
  const config = loadConfig({ ...process.env, TOLLGATE_MODEL_REPOSITORY: opts.repo, INFERENCE_DEVICE: 'cpu', INFERENCE_REPOSITORY_POLL_MS: '0', ...opts.env });
  const sink = (opts.usageSink as MemoryUsageSink | undefined) ?? new MemoryUsageSink();
  const server = await createInferenceServer({
    config,
    logger: opts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    authenticate: opts.authenticate ?? (async () => null),
    ...(opts.failedAuth ? { failedAuth: opts.failedAuth } : {}),
    usageSink: sink,
    admission: opts.admission ?? allowAll,
    queueFactory: opts.queueFactory,
    ...(opts.tracer ? { tracer: opts.tracer } : {}),
    ...(opts.responses ? { responses: opts.responses } : {}),
  });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, base: `http://127.0.0.1:${port}`, sink, close: () => server.close() };
}

export interface InferOptions {
  key?: string;
  version?: string;
  headers?: Record<string, string>;
}

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  raw: Buffer;
}

export async function post(base: string, url: string, body: string | Uint8Array, opts: { key?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(base + url, { method: 'POST', headers, body });
  return read(res);
}

export async function get(base: string, url: string, key?: string): Promise<Reply> {
  const res = await fetch(base + url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return read(res);
}

async function read(res: Response): Promise<Reply> {
  const raw = Buffer.from(await res.arrayBuffer());
  let json: any;
  const hl = res.headers.get('inference-header-content-length');
  try {
    json = JSON.parse((hl ? raw.subarray(0, Number(hl)) : raw).toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, raw };
}

export function infer(base: string, model: string, body: unknown, opts: InferOptions = {}): Promise<Reply> {
  const url = opts.version ? `/v2/models/${model}/versions/${opts.version}/infer` : `/v2/models/${model}/infer`;
  return post(base, url, typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body), opts);
}

/** Binary-extension request: JSON header followed by the raw tensors. */
export function binaryBody(header: unknown, tensors: Uint8Array[]): { body: Buffer; headers: Record<string, string> } {
  const head = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([head, ...tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]),
    headers: { 'inference-header-content-length': String(head.length), 'content-type': 'application/octet-stream' },
  };
}

/** Decodes binary outputs of a reply into a name -> bytes map. */
export function binaryOutputs(reply: Reply): Map<string, Buffer> {
  const hl = Number(reply.headers.get('inference-header-content-length'));
  let off = hl;
  const out = new Map<string, Buffer>();
  for (const o of reply.json.outputs as { name: string; parameters?: { binary_data_size?: number } }[]) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    out.set(o.name, reply.raw.subarray(off, off + size));
    off += size;
  }
  return out;
}

export { prng } from '../helpers/prng.js';

export function randomFloats(rand: () => number, n: number): number[] {
  // Float32-representable values, so JSON and binary encodings carry identical numbers.
  return Array.from({ length: n }, () => Math.fround(rand() * 2 - 1));
}

export function mlpRequest(rand: () => number, items: number, id?: string): Record<string, unknown> {
  return { ...(id ? { id } : {}), inputs: [{ name: 'input', datatype: 'FP32', shape: [items, 64], data: randomFloats(rand, items * 64) }] };
}

const require = createRequire(import.meta.url);

/** A model with one Identity per datatype (inputs in_<dt>, outputs out_<dt>, shape [-1, 3]), built with onnx-proto. */
export function writeIdentityModel(dir: string, name: string): void {
  const { onnx } = require('onnx-proto') as typeof import('onnx-proto');
  const T = onnx.TensorProto.DataType;
  const types: [string, number][] = [
    ['FP32', T.FLOAT],
    ['FP64', T.DOUBLE],
    ['FP16', T.FLOAT16],
    ['INT32', T.INT32],
    ['INT64', T.INT64],
    ['UINT8', T.UINT8],
    ['INT8', T.INT8],
    ['BOOL', T.BOOL],
    ['BYTES', T.STRING],
  ];
  const vi = (n: string, elemType: number) =>
    onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 3 }] } } } });
  const graph = onnx.GraphProto.create({
    name: 'identity',
    node: types.map(([dt]) => onnx.NodeProto.create({ opType: 'Identity', input: [`in_${dt}`], output: [`out_${dt}`], name: `id_${dt}` })),
    input: types.map(([dt, t]) => vi(`in_${dt}`, t)),
    output: types.map(([dt, t]) => vi(`out_${dt}`, t)),
  });
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], graph })).finish();
  const dst = path.join(dir, name);
  mkdirSync(path.join(dst, '1'), { recursive: true });
  writeFileSync(path.join(dst, '1', 'model.onnx'), bytes);
  writeFileSync(
    path.join(dst, 'config.json'),
    JSON.stringify({
      max_batch_size: 8,
      inputs: types.map(([dt]) => ({ name: `in_${dt}`, datatype: dt, shape: [3] })),
      outputs: types.map(([dt]) => ({ name: `out_${dt}`, datatype: dt, shape: [3] })),
      dynamic_batching: { max_queue_delay_microseconds: 100 },
    }),
  );
}

export interface RawReply {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  /** The body exactly as sent (not decompressed: fetch would inflate gzip/deflate itself). */
  body: Buffer;
}

/** One HTTP request with node:http: no automatic headers beyond Host/Content-Length, no decompression. */
export function rawRequest(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + opts.path, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
