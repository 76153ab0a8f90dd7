/** POST /v2/models/{m}[/versions/{v}]/infer */
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Admission, AdmissionTicket } from '../../src/quotas/index.js';
import type { ResponseStore } from '../../src/idempotency/index.js';
import { AppError, badInput, unavailable, isWellFormed } from '../../src/shared/index.js';
import { tagsFromParameters, type UsageSink } from '../../src/usage/index.js';
import { BilledFailure, outputTooLarge, type BatchOutcome, type Job, type JobResult, type DynamicBatcher } from './batcher/batcher.js';
import { JSON_OUTPUT_MAX_ELEMENTS } from './runtime/protocol.js';
import { decodeInferRequest, parseJsonHeader, splitBody, type DecodedRequest, type Scalar } from './oip/decode.js';
import { encodeInferResponse, type OutputTensor } from './oip/encode.js';
import { classify } from './oip/classification.js';
import type { InferenceMetrics } from './metrics.js';
import type { ModelRegistry, Resolved } from './repository/registry.js';
import type { RequestTracker } from './request.js';
import { runOf, type Identity, type Input, type Principal, type Target } from './request-state.js';
import type { ExecDevice } from './runtime/protocol.js';
import { notFoundModel } from './errors.js';

export interface InferRouteDeps {
  authHook: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  tracker: RequestTracker;
  registry: ModelRegistry;
  admission: Admission;
  sink: UsageSink;
  metrics: InferenceMetrics;
  requestTimeoutMs: number;
  isAccepting: () => boolean;
  /** The server's device (a model whose sessions say nothing runs on it). */
  defaultDevice: () => ExecDevice;
  /** Optional: answers kept for identical retries (issue 17.5). */
  responses?: ResponseStore | undefined;
}

const RESERVED_PARAMETERS = new Set(['binary_data_output', 'timeout_ms']);
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

/**
 * Outputs answered as JSON whose size the config fixes (given the request's items) are checked
 * before anything runs (issue 17.3): too many elements for JSON is a 400 asking for the binary
 * extension. Outputs with free dimensions are checked by the worker after the run (billed).
 */
function checkJsonOutputs(req: DecodedRequest, config: Resolved['config']): void {
  for (const o of req.outputs) {
    if (o.classification !== undefined || (o.binary ?? req.binaryOutput)) continue;
    const spec = config.outputs.find((x) => x.name === o.name);
    if (!spec || spec.shape.some((d) => d < 0)) continue;
    const elements = spec.shape.reduce((n, d) => n * d, config.max_batch_size > 0 ? req.items : 1);
    if (elements > JSON_OUTPUT_MAX_ELEMENTS) throw outputTooLarge(o.name);
  }
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

/** The model the request names, if the tenant may use it (else 404, as for a missing one). */
function resolveTarget(deps: InferRouteDeps, principal: Principal, params: { model: string; version?: string }): { resolved: Resolved & { version: NonNullable<Resolved['version']> }; target: Target } {
  const resolved = deps.registry.resolve(params.model, params.version, principal.tenantId);
  if (!resolved?.version) throw notFoundModel(params.model, params.version);
  // The device the model's sessions run on: admission checks that device's compute quota.
  const device = resolved.version.batcher.instances[0]?.device;
  return { resolved: resolved as Resolved & { version: NonNullable<Resolved['version']> }, target: { version: resolved.version.spec.version, device: device ?? deps.defaultDevice() } };
}

/** The body's id: the client's OIP id, else a fresh UUID (`clientId` says which). */
function identify(doc: Record<string, unknown>, arrivalId: string): Identity & { clientId: boolean } {
  if (typeof doc.id === 'string' && !isWellFormed(doc.id)) throw badInput('"id" must be well-formed Unicode (no lone surrogates)');
  const clientId = typeof doc.id === 'string' && doc.id.length > 0 && doc.id.length <= 256;
  if (!clientId) return { requestId: arrivalId, eventId: randomUUID(), clientId };
  return { requestId: doc.id as string, eventId: doc.id as string, clientId };
}

/** Asks admission; a refusal becomes the AppError the error handler answers (headers set on the reply). */
async function admit(deps: InferRouteDeps, reply: FastifyReply, principal: Principal, model: string, id: Identity, input: Input, target: Target): Promise<{ ticket: AdmissionTicket; weight: number; retry: boolean }> {
  const pass = deps.tracker.state(reply.request).gate?.pass;
  const decision = await deps.admission.admit(
    {
    tenantId: principal.tenantId,
    apiKeyId: principal.id,
    model,
    items: input.items,
    eventId: id.eventId,
    device: target.device,
    // The client's id is bound to the request's content: reusing it for another request is a 409.
    ...(id.fingerprint !== undefined ? { fingerprint: id.fingerprint } : {}),
    },
    pass,
  );
  for (const [k, v] of Object.entries(decision.headers)) reply.header(k, v);
  if (!decision.allowed) {
    if (decision.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(0, Math.ceil(decision.retryAfterSeconds))));
    throw new AppError(decision.code, decision.message, decision.details);
  }
  return { ticket: decision.ticket, weight: decision.weight, retry: decision.retry === true };
}

/** Ends a successful request: its usage record must be durable before the answer (else 503). */
async function finishOk(request: FastifyRequest, tracker: RequestTracker): Promise<void> {
  try {
    await tracker.finish(request, { status: 200 });
  } catch (err) {
    request.log.error({ err }, 'usage record could not be stored; not answering a result that would go unbilled');
    throw unavailable('usage metering is unavailable; retry later');
  }
}

export function registerInferRoute(app: FastifyInstance, url: string, deps: InferRouteDeps): void {
  app.post<{ Params: { model: string; version?: string } }>(url, { onRequest: deps.authHook }, async (request, reply) => {
    const { tracker } = deps;
    const principal = tracker.principal(request);
    if (!deps.sink.accepting()) throw unavailable('usage metering is not accepting records; retry later');
    if (!deps.isAccepting()) throw unavailable('the server is shutting down');
    const { resolved, target } = resolveTarget(deps, principal, request.params);
    const arrival = tracker.advance(request, { target }).arrival;

    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const { json, binary } = splitBody(body, request.headers['inference-header-content-length']);
    const doc = parseJsonHeader(json);
    const { clientId, ...named } = identify(doc, arrival.requestId);
    tracker.advance(request, { id: named });
    const req = decodeInferRequest(doc, binary, json.length, resolved.config);
    // Sized first: a request refused for its tags is still metered with its items.
    const sized: Input = { items: req.items, inputBytes: req.inputBytes, tags: {} };
    tracker.advance(request, { input: sized });
    const input: Input = { ...sized, tags: tagsFromParameters(req.parameters) };
    // A client's id is bound to the request's content (hashed only once the body decoded).
    const id: Identity = clientId ? { ...named, fingerprint: fingerprintOf(resolved.name, target.version, body) } : named;
    tracker.advance(request, { id, input });
    const timeoutMs = timeoutOf(req.parameters, deps.requestTimeoutMs);
    checkJsonOutputs(req, resolved.config);

    const { ticket, weight, retry } = await admit(deps, reply, principal, request.params.model, id, input, target);
    tracker.advance(request, { ticket });

    // An identical retry of a request already served: its stored answer, without running again
    // (issue 17.5). Not stored (too large, or the first is still running): it runs again, and
    // that compute is charged to the compute quota like any run.
    const store = id.fingerprint !== undefined ? deps.responses : undefined;
    if (retry && store) {
      const stored = await store.load(principal.tenantId, id.eventId, id.fingerprint!);
      if (stored) {
        tracker.advance(request, { outputBytes: stored.body.length });
        await finishOk(request, tracker);
        if (stored.headerLength !== undefined) reply.header('inference-header-content-length', String(stored.headerLength));
        reply.header('tollgate-replayed', 'true');
        return reply.code(200).type(stored.contentType).send(stored.body);
      }
    }

    let result: JobResult;
    try {
      result = await runJob(resolved.version.batcher, req, principal.tenantId, weight, timeoutMs, (pending) => tracker.advance(request, { pending }));
    } catch (err) {
      // The session ran for it and then it failed: its share of that compute is billed (17.3).
      if (err instanceof BilledFailure) tracker.advance(request, { run: runOf(err.outcome) });
      throw err;
    }
    tracker.advance(request, { run: runOf(result) });
    const parameters = Object.fromEntries(Object.entries(req.parameters).filter(([k]) => !RESERVED_PARAMETERS.has(k)));
    const tensors = await classifyOutputs(req, result.tensors, resolved);
    const encoded = await encodeInferResponse({
      modelName: resolved.name,
      modelVersion: target.version,
      id: id.requestId,
      parameters,
      requested: req.outputs,
      binaryOutput: req.binaryOutput,
      tensors,
    });
    tracker.advance(request, { outputBytes: encoded.outputBytes });
    // Issued before the answer: on this connection a retry's lookup is served after it.
    if (store && !retry) void store.save(principal.tenantId, id.eventId, id.fingerprint!, { contentType: encoded.contentType, ...(encoded.headerLength !== undefined ? { headerLength: encoded.headerLength } : {}), body: Buffer.isBuffer(encoded.body) ? encoded.body : Buffer.from(encoded.body) });
    await finishOk(request, tracker);
    if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
    return reply.code(200).type(encoded.contentType).send(encoded.body);
  });
}
