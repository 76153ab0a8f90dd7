/** POST /v2/models/{m}[/versions/{v}]/infer */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Admission } from '../../src/quotas/index.js';
import { AppError, badInput, unavailable, isWellFormed, toWellFormed, truncateCodePoints } from '../../src/shared/index.js';
import type { UsageSink } from '../../src/usage/index.js';
import type { BatchOutcome, Job, JobResult, DynamicBatcher } from './batcher/batcher.js';
import { decodeInferRequest, parseJsonHeader, splitBody, type DecodedRequest, type Scalar } from './oip/decode.js';
import { encodeInferResponse, type OutputTensor } from './oip/encode.js';
import { classify } from './oip/classification.js';
import type { InferenceMetrics } from './metrics.js';
import type { ModelRegistry, Resolved } from './repository/registry.js';
import type { RequestTracker } from './request.js';
import { notFoundModel } from './errors.js';

export interface InferRouteDeps {
  authHook: (request: FastifyRequest) => Promise<void>;
  tracker: RequestTracker;
  registry: ModelRegistry;
  admission: Admission;
  sink: UsageSink;
  metrics: InferenceMetrics;
  requestTimeoutMs: number;
  isAccepting: () => boolean;
}

const RESERVED_PARAMETERS = new Set(['binary_data_output', 'timeout_ms']);
const MAX_TAGS = 16;

/** Request parameters named `tag.<key>` become usage tags (cost attribution by tag). */
function tagsOf(parameters: Record<string, Scalar>): Record<string, string> {
  const tags: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(parameters)) {
    if (!k.startsWith('tag.') || k.length > 68 || n >= MAX_TAGS) continue;
    const value = String(v);
    // Broken UTF-16 would be refused by ClickHouse and stall metering for every tenant.
    if (!isWellFormed(k) || !isWellFormed(value)) throw badInput(`parameter "${toWellFormed(k)}": tag keys and values must be well-formed Unicode (no lone surrogates)`);
    tags[k.slice(4)] = truncateCodePoints(value, 256);
    n++;
  }
  return tags;
}

/** Shortest per-request timeout a client may ask for (shorter ones are raised to it). */
export const MIN_TIMEOUT_MS = 100;

function timeoutOf(parameters: Record<string, Scalar>, max: number): number {
  const t = parameters.timeout_ms;
  if (t === undefined) return max;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) throw new AppError('BAD_USER_INPUT', 'parameter timeout_ms must be a positive number');
  return Math.min(max, Math.max(MIN_TIMEOUT_MS, t));
}

/** sha256 over (model, version, raw body — JSON header and binary tensors alike), length-prefixed. */
export function fingerprintOf(model: string, version: string, body: Buffer): string {
  const h = createHash('sha256');
  for (const part of [Buffer.from(model, 'utf8'), Buffer.from(version, 'utf8'), body]) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(part.length));
    h.update(len).update(part);
  }
  return h.digest('hex');
}

/**
 * Queues the request on its model's batcher and waits for its share of a batch, or times out.
 * A timeout while the job is already on a worker cannot stop it: `onRunningTimeout` gets the
 * batch's end, so the caller keeps the admission ticket and bills the compute until then.
 */
function runJob(
  batcher: DynamicBatcher,
  req: DecodedRequest,
  tenantId: string,
  weight: number,
  timeoutMs: number,
  onRunningTimeout: (batchEnd: Promise<BatchOutcome>) => void,
): Promise<JobResult> {
  return new Promise<JobResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let late: ((o: BatchOutcome) => void) | undefined;
    const job: Job = {
      done(o) {
        late?.(o);
      },
      req,
      tenantId,
      enqueuedAt: process.hrtime.bigint(),
      settled: false,
      resolve(r) {
        if (job.settled) return;
        job.settled = true;
        clearTimeout(timer);
        resolve(r);
      },
      reject(e) {
        if (job.settled) return;
        job.settled = true;
        clearTimeout(timer);
        reject(e);
      },
    };
    timer = setTimeout(() => {
      if (!batcher.cancel(job) && job.running) onRunningTimeout(new Promise<BatchOutcome>((r) => (late = r)));
      job.reject(new AppError('TIMEOUT', `inference did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    if (!batcher.submit(job, { tenantId, weight })) {
      job.reject(unavailable('the model queue is full; retry later'));
    }
  });
}

/** Replaces each output requested with `classification: k` by its top-k classes (Triton's extension). */
async function classifyOutputs(req: DecodedRequest, tensors: Map<string, OutputTensor>, resolved: Resolved): Promise<Map<string, OutputTensor>> {
  if (!req.outputs.some((o) => o.classification !== undefined)) return tensors;
  const out = new Map(tensors);
  for (const o of req.outputs) {
    const t = tensors.get(o.name);
    if (o.classification === undefined || !t) continue;
    out.set(o.name, await classify(t, { k: o.classification, batched: resolved.config.max_batch_size > 0, labels: resolved.version?.spec.labels[o.name] }));
  }
  return out;
}

export function registerInferRoute(app: FastifyInstance, url: string, deps: InferRouteDeps): void {
  app.post<{ Params: { model: string; version?: string } }>(url, { onRequest: deps.authHook }, async (request, reply) => {
    const { tracker, registry } = deps;
    const ctx = tracker.ctx(request);
    const principal = tracker.principal(request);
    if (!deps.sink.accepting()) throw unavailable('usage metering is not accepting records; retry later');
    if (!deps.isAccepting()) throw unavailable('the server is shutting down');
    const { model, version } = request.params;
    const resolved = registry.resolve(model, version, principal.tenantId);
    if (!resolved?.version) throw notFoundModel(model, version);
    ctx.version = resolved.version.spec.version;
    ctx.resolved = true;

    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const { json, binary } = splitBody(body, request.headers['inference-header-content-length']);
    const doc = parseJsonHeader(json);
    if (typeof doc.id === 'string' && !isWellFormed(doc.id)) throw badInput('"id" must be well-formed Unicode (no lone surrogates)');
    const clientId = typeof doc.id === 'string' && doc.id.length > 0 && doc.id.length <= 256;
    if (clientId) ctx.requestId = ctx.eventId = doc.id as string;
    const req = decodeInferRequest(doc, binary, json.length, resolved.config);
    ctx.items = req.items;
    ctx.inputBytes = req.inputBytes;
    ctx.tags = tagsOf(req.parameters);
    const timeoutMs = timeoutOf(req.parameters, deps.requestTimeoutMs);

    // The device the model's sessions run on: admission checks that device's compute quota.
    ctx.device = resolved.version.batcher.instances[0]?.device ?? ctx.device;
    const decision = await deps.admission.admit({
      tenantId: principal.tenantId,
      apiKeyId: principal.keyId,
      model,
      items: req.items,
      eventId: ctx.eventId,
      device: ctx.device,
      // The client's id is bound to the request's content: reusing it for another request is a 409.
      ...(clientId ? { fingerprint: fingerprintOf(resolved.name, ctx.version, body) } : {}),
    });
    for (const [k, v] of Object.entries(decision.headers)) reply.header(k, v);
    if (!decision.allowed) {
      if (decision.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(0, Math.ceil(decision.retryAfterSeconds))));
      throw new AppError(decision.code, decision.message, decision.details);
    }
    ctx.ticket = decision.ticket;

    const result = await runJob(resolved.version.batcher, req, principal.tenantId, decision.weight, timeoutMs, (batchEnd) => {
      ctx.batchEnd = batchEnd;
    });
    ctx.queueUs = result.queueUs;
    ctx.computeUs = result.computeUs;
    ctx.batchSize = result.batchSize;
    ctx.device = result.device;
    const parameters = Object.fromEntries(Object.entries(req.parameters).filter(([k]) => !RESERVED_PARAMETERS.has(k)));
    const tensors = await classifyOutputs(req, result.tensors, resolved);
    const encoded = await encodeInferResponse({
      modelName: resolved.name,
      modelVersion: ctx.version,
      id: ctx.requestId,
      parameters,
      requested: req.outputs,
      binaryOutput: req.binaryOutput,
      tensors,
    });
    ctx.outputBytes = encoded.outputBytes;
    try {
      await tracker.finish(request, { status: 200 });
    } catch (err) {
      request.log.error({ err }, 'usage record could not be stored; not answering a result that would go unbilled');
      throw unavailable('usage metering is unavailable; retry later');
    }
    if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
    return reply.code(200).type(encoded.contentType).send(encoded.body);
  });
}
