/**
 * The inference role: Open Inference Protocol v2 over HTTP (fastify), in front of the model
 * registry (dynamic batchers over a worker-thread session pool). Per inference request:
 * authenticate -> resolve model (visibility) -> decode + validate -> admission -> queue ->
 * batch -> usage record (awaited before the answer) + span + metrics.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { trace, type Tracer } from '@opentelemetry/api';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../../src/config/index.js';
import type { Admission, AdmissionPass, TenantQueueFactory } from '../../src/quotas/index.js';
import type { ResponseStore } from '../../src/idempotency/index.js';
import { AppError, isAppError, listenOn } from '../../src/shared/index.js';
import { createBearerAuth, retryAfterOf, type ApiKeyLookup, type FailedAuthLimiter } from '../../src/identity/index.js';
import type { UsageSink } from '../../src/usage/index.js';
import { fifoQueueFactory } from './batcher/fifo.js';
import { createInferenceMetrics } from './metrics.js';
import { ModelRegistry } from './repository/registry.js';
import { selectDevice } from './runtime/device.js';
import { WorkerPool } from './runtime/pool.js';
import type { ExecDevice } from './runtime/protocol.js';
import { RequestTracker, type Principal } from './request.js';
import { registerInferRoute } from './infer.js';
import { registerModelRoutes, SERVER_NAME, SERVER_VERSION } from './model-routes.js';
import { decodeBody, encodeReply, limitBody, requestCoding, ACCEPTED_ENCODINGS } from './http/encoding.js';
import { InflightBytes } from './http/inflight.js';

export type { Principal };

export interface InferenceServerDeps {
  config: Config;
  logger: Logger;
  /** Looks up an API key secret (src/keys' authenticator), or null for an unknown or revoked key. */
  authenticate: ApiKeyLookup;
  /** The failed-credential limiter in front of that lookup (src/identity; issue 17.10). */
  failedAuth?: FailedAuthLimiter | null;
  usageSink: UsageSink;
  admission: Admission;
  queueFactory?: TenantQueueFactory;
  tracer?: Tracer;
  /** Optional: answers kept for identical retries (src/idempotency; issue 17.5). */
  responses?: ResponseStore;
}

export interface InferenceServer {
  app: FastifyInstance;
  listen(port?: number, host?: string): Promise<{ port: number }>;
  /** Graceful: stop accepting, let accepted requests finish, then stop the session workers. */
  close(): Promise<void>;
  /** True once models are loaded and until close() begins. */
  ready(): boolean;
  /** Execution provider the sessions run on. */
  device: ExecDevice;
  /** Rescan the model repository now (hot reload also polls every INFERENCE_REPOSITORY_POLL_MS). */
  reload(): Promise<void>;
  /** Inference requests currently being handled. */
  activeRequests(): number;
}

export { SERVER_NAME, SERVER_VERSION };

export async function createInferenceServer(deps: InferenceServerDeps): Promise<InferenceServer> {
  const { config, logger } = deps;
  const log = logger.child({ component: 'inference' });
  const pool = new WorkerPool({
    size: config.INFERENCE_WORKERS,
    intraOpThreads: config.INFERENCE_INTRA_OP_THREADS,
    logger: log,
    nice: config.INFERENCE_WORKER_NICE,
    arenaRecycleBytes: config.INFERENCE_ARENA_RECYCLE_BYTES,
  });
  let device: ExecDevice;
  try {
    device = await selectDevice({ mode: config.INFERENCE_DEVICE, pool, probeFile: ModelRegistry.firstModelFile(config.TOLLGATE_MODEL_REPOSITORY), logger: log });
  } catch (err) {
    await pool.terminate();
    throw err;
  }
  const metrics = createInferenceMetrics();
  const registry = new ModelRegistry({
    root: config.TOLLGATE_MODEL_REPOSITORY,
    pool,
    device,
    logger: log,
    queueFactory: deps.queueFactory ?? fifoQueueFactory,
    defaultQueueCapacity: config.INFERENCE_MAX_QUEUE,
    onBatch: (model, version, e) => {
      const labels = { model, version };
      metrics.execCount.inc(labels);
      metrics.batchSize.observe(labels, e.batchSize);
      if (e.ok) {
        metrics.inferenceCount.inc(labels, e.batchSize);
        metrics.computeDuration.observe(labels, e.computeUs / 1e6);
      }
    },
  });
  try {
    await registry.sync();
  } catch (err) {
    await pool.terminate();
    throw err;
  }
  log.info({ models: registry.list(), device }, 'inference model repository loaded');
  const skipped = registry.skipped();
  if (skipped.length > 0) log.warn({ repository: config.TOLLGATE_MODEL_REPOSITORY, skipped }, `${skipped.length} configured model(s) not served: ${skipped.map((s) => s.model).join(', ')}`);

  let accepting = true;
  const poll =
    config.INFERENCE_REPOSITORY_POLL_MS > 0
      ? setInterval(() => void registry.sync().catch((err) => log.error({ err }, 'model repository rescan failed')), config.INFERENCE_REPOSITORY_POLL_MS).unref()
      : undefined;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // We log one line per model request ourselves (request.ts), with the model and outcome.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.INFERENCE_MAX_BODY_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // `GET /v2/` (KServe's OpenAPI path) and clients that join a base URL ending in "/" with "/v2/…".
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  }) as unknown as FastifyInstance;
  const tracker = new RequestTracker({
    sink: deps.usageSink,
    tracer: deps.tracer ?? trace.getTracer('tollgate-inference'),
    metrics,
    device: () => device,
  });
  app.addHook('onResponse', async (request, reply) => tracker.finish(request, { status: reply.statusCode }));
  app.addHook('onSend', async (request, reply, payload) => {
    const id = tracker.requestIdOf(request);
    // Client-chosen ids may hold characters a header cannot carry: echo only plain ones.
    if (/^[\x21-\x7e]{1,256}$/.test(id)) reply.header('x-request-id', id);
    if (!accepting) reply.header('connection', 'close');
    // JSON is UTF-8 by definition; KServe's client keeps an error's text only for exactly this type.
    if (/^application\/json\s*;\s*charset=utf-8$/i.test(String(reply.getHeader('content-type') ?? ''))) reply.header('content-type', 'application/json');
    return encodeReply(request.headers['accept-encoding'], reply, payload);
  });

  // Content-Encoding: the body is inflated as it streams in, the size limit counting decoded bytes.
  app.addHook('preParsing', async (request, reply, payload) => {
    // fastify runs this hook for bodiless requests too (GET): their Content-Encoding names nothing.
    if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) return payload;
    let coding;
    try {
      coding = requestCoding(request.headers['content-encoding']);
    } catch (err) {
      reply.header('accept-encoding', ACCEPTED_ENCODINGS);
      throw err;
    }
    // A body without the binary extension is JSON, parsed as a whole: its own, lower limit, and
    // a declared length over it is refused before a byte is read (issue 17.6).
    const json = request.headers['inference-header-content-length'] === undefined;
    const limit = json ? jsonLimit : config.INFERENCE_MAX_BODY_BYTES;
    const declared = Number(request.headers['content-length']);
    if (!coding && declared > limit) throw tooLarge(limit);
    if (coding) return decodeBody(payload, coding, limit);
    return json && limit < config.INFERENCE_MAX_BODY_BYTES ? limitBody(payload, limit) : payload;
  });

  // Every body is read raw: the binary extension appends tensors to the JSON header.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.INFERENCE_MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

  app.setErrorHandler(async (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, message } = toHttpError(err, request.id);
    if (status >= 500 && status !== 503 && status !== 504) request.log.error({ err }, 'inference request failed');
    await tracker.finish(request, { status, error: message });
    return reply.code(status).type('application/json').send({ error: message });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}` }));

  const jsonLimit = Math.min(config.INFERENCE_MAX_JSON_BODY_BYTES, config.INFERENCE_MAX_BODY_BYTES);
  const tooLarge = (limit: number) => new AppError('PAYLOAD_TOO_LARGE', `the request body exceeds the size limit (${limit} bytes${limit < config.INFERENCE_MAX_BODY_BYTES ? ' for JSON; larger tensors go in the binary extension' : ''})`);
  const inflight = new InflightBytes(config.INFERENCE_TENANT_INFLIGHT_BYTES);

  /**
   * Before the body is read (issue 17.6): the tenant's in-flight bytes, then admission's gate
   * (rate token, concurrency slots). Every authenticated model request passes here, failures
   * included (17.7); a refusal is answered without reading or parsing the body.
   */
  const gate = async (request: FastifyRequest, reply: FastifyReply, principal: Principal) => {
    const post = request.method === 'POST';
    const length = Number(request.headers['content-length']);
    const bytes = !post ? 0 : Number.isSafeInteger(length) && length >= 0 ? length : request.headers['inference-header-content-length'] === undefined ? jsonLimit : config.INFERENCE_MAX_BODY_BYTES;
    if (!inflight.take(principal.tenantId, bytes)) {
      reply.header('retry-after', '1');
      if (bytes > 0) reply.header('connection', 'close');
      throw new AppError('RATE_LIMITED', `this tenant has ${inflight.of(principal.tenantId)} request bytes in flight (limit ${inflight.cap}); retry shortly`, { limit: 'inflight_bytes' });
    }
    let pass: AdmissionPass | undefined;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inflight.give(principal.tenantId, bytes);
      pass?.release();
    };
    tracker.advance(request, { gate: { release } });
    const d = deps.admission.enter ? await deps.admission.enter({ tenantId: principal.tenantId, apiKeyId: principal.id }) : undefined;
    if (!d) return;
    for (const [k, v] of Object.entries(d.headers)) reply.header(k, v);
    if (!d.allowed) {
      if (d.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(0, Math.ceil(d.retryAfterSeconds))));
      if (bytes > 0) reply.header('connection', 'close');
      throw new AppError(d.code, d.message, d.details);
    }
    pass = d.pass;
    tracker.advance(request, { gate: { release, pass } });
  };

  const bearer = createBearerAuth({ apiKeys: deps.authenticate, failedAuth: deps.failedAuth ?? null });

  /** Model routes need a Bearer API key; health and server metadata do not (/metrics: token or loopback). */
  const authHook = async (request: FastifyRequest, reply: FastifyReply) => {
    tracker.begin(request);
    let principal: Principal;
    try {
      principal = await bearer.authenticateBearer({ headers: request.headers, ip: request.ip }, 'api_key');
    } catch (err) {
      const wait = retryAfterOf(err);
      if (wait !== undefined) reply.header('retry-after', String(wait));
      if (err instanceof AppError && err.code === 'UNAVAILABLE') request.log.error({ err }, 'API key lookup failed');
      throw err;
    }
    tracker.authenticated(request, principal);
    await gate(request, reply, principal);
  };

  app.get('/metrics', async (request, reply) => {
    // The counters name every tenant's private models: only the operator's scraper may read them.
    if (config.METRICS_TOKEN !== undefined) {
      if (!bearerMatches(request.headers.authorization, config.METRICS_TOKEN)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' });
      }
    } else if (!isLoopback(request.socket.remoteAddress)) return reply.callNotFound();
    metrics.queued.reset();
    metrics.loaded.reset();
    for (const v of registry.all()) {
      metrics.queued.set({ model: v.spec.name, version: v.spec.version }, v.batcher.queued);
      metrics.loaded.set({ model: v.spec.name, version: v.spec.version, device: v.batcher.instances[0]?.device ?? 'cpu' }, v.batcher.instances.length);
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  registerModelRoutes(app, {
    registry,
    tracker,
    authHook,
    ready: () => accepting && registry.size > 0,
    accepting: () => accepting,
    defaultQueueSize: config.INFERENCE_MAX_QUEUE,
    requestTimeoutMs: config.INFERENCE_REQUEST_TIMEOUT_MS,
  });
  for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    registerInferRoute(app, `${prefix}/infer`, {
      authHook,
      tracker,
      registry,
      admission: deps.admission,
      sink: deps.usageSink,
      metrics,
      requestTimeoutMs: config.INFERENCE_REQUEST_TIMEOUT_MS,
      isAccepting: () => accepting,
      defaultDevice: () => device,
      responses: deps.responses,
    });
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    device,
    async listen(port = config.TOLLGATE_INFERENCE_PORT, host = config.TOLLGATE_HOST) {
      return { port: await listenOn(app, port, host) };
    },
    close() {
      closing ??= (async () => {
        accepting = false;
        if (poll) clearInterval(poll);
        // New requests now get 503 and every answer carries Connection: close, so keep-alive
        // sockets end with their last response; accepted requests run to completion first.
        await tracker.idle();
        await app.close();
        await registry.drain();
        await pool.terminate();
        log.info('inference server closed');
      })();
      return closing;
    },
    ready: () => accepting && registry.size > 0,
    reload: () => registry.sync(),
    activeRequests: () => tracker.active,
  };
}

/** Constant-time comparison of an Authorization header's bearer token with the expected one. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = typeof header === 'string' ? /^Bearer\s+(\S{1,1024})\s*$/i.exec(header) : null;
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address);
}

function toHttpError(err: unknown, requestId: string): { status: number; message: string } {
  if (isAppError(err)) return { status: err.status, message: err.message };
  const e = err as { statusCode?: number; message?: string; code?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, message: 'request body exceeds the size limit' };
    return { status: e.statusCode, message: String(e.message ?? 'bad request').slice(0, 300) };
  }
  return { status: 500, message: `internal error (request id ${requestId})` };
}
