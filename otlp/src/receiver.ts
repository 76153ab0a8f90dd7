/**
 * OTLP/HTTP trace receiver (role `otlp`): POST /v1/traces with application/json or
 * application/x-protobuf bodies, gzip or not, answered per the OTLP/HTTP spec: 200 with an
 * ExportTraceServiceResponse in the request's encoding (partialSuccess when some spans were
 * rejected), 400 bad body, 401 no/unknown credentials, 413 too large (compressed or not),
 * 415 other content types/encodings, 503 when the span buffer is full (exporters retry).
 *
 * Tenant attribution (the principal decides, never the payload):
 * - `Authorization: Bearer <OTLP internal token>`: Tollgate's own services. Each span's
 *   `tenant.id` attribute (span, else resource) names its tenant; '' = platform spans.
 * - `Authorization: Bearer <tenant API key>` (or `x-api-key`): every span is stored under the
 *   key's tenant, whatever `tenant.id` the attributes claim.
 * - anything else: 401. There is no trust by source address.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../../src/config/index.js';
import { AppError, listenOn, type Logger } from '../../src/shared/index.js';
import { bearerCredential, createBearerAuth, retryAfterOf, type ApiKeyLookup, type FailedAuthLimiter } from '../../src/identity/index.js';
import type { ClickHouse } from '../../src/clickhouse/index.js';
import { createSpanWriter, type SpanWriter } from '../../src/telemetry/index.js';
import { loadOtlpTypes } from './proto.js';
import { TenantBuckets } from './limits.js';
import { OtlpShapeError, spansToRows, type OtlpPrincipal } from './spans.js';

const gunzipAsync = promisify(gunzip);

export type OtlpReceiverConfig = Pick<
  Config,
  | 'OTLP_MAX_BODY_BYTES'
  | 'OTLP_MAX_ATTRIBUTES'
  | 'OTLP_INTERNAL_TOKEN'
  | 'OTLP_MAX_BUFFERED_SPANS'
  | 'OTLP_FLUSH_INTERVAL_MS'
  | 'OTLP_FLUSH_MAX_ROWS'
  | 'OTLP_TENANT_SPANS_PER_SECOND'
  | 'OTLP_TENANT_SPAN_BURST'
  | 'OTLP_TENANT_BYTES_PER_SECOND'
  | 'OTLP_TENANT_BYTE_BURST'
  | 'OTLP_TENANT_BUFFER_SHARE'
  | 'OTLP_TENANTS_BUFFER_SHARE'
  | 'TOLLGATE_HOST'
  | 'TOLLGATE_OTLP_PORT'
>;

export interface OtlpReceiverDeps {
  config: OtlpReceiverConfig;
  logger: Logger;
  clickhouse: ClickHouse;
  /** Looks up a tenant API key secret (src/keys' createApiKeyAuthenticator(...).authenticate). */
  authenticate: ApiKeyLookup;
  /** The failed-credential limiter in front of that lookup (src/identity; issue 17.10). */
  failedAuth?: FailedAuthLimiter | null;
  /** Overrides config.OTLP_INTERNAL_TOKEN (e.g. a per-process token shared with tracing in `serve`). */
  internalToken?: string;
}

export interface OtlpReceiver {
  app: FastifyInstance;
  listen(port?: number, host?: string): Promise<{ port: number }>;
  /** Resolves when every span accepted so far is in ClickHouse. */
  flush(): Promise<void>;
  /** Stops accepting, writes out buffered spans, closes the server. */
  close(): Promise<void>;
  writer: SpanWriter;
}

type Encoding = 'json' | 'protobuf';
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const GRPC_CODE: Record<number, number> = { 400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14, 500: 13 };

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function createOtlpReceiver(deps: OtlpReceiverDeps): OtlpReceiver {
  const { config, logger, clickhouse } = deps;
  const log = logger.child({ component: 'otlp' });
  const types = loadOtlpTypes();
  const writer = createSpanWriter({ clickhouse, config, logger: log });
  const internalToken = deps.internalToken ?? config.OTLP_INTERNAL_TOKEN;
  const internalDigest = internalToken ? digest(internalToken) : null;
  const maxBody = config.OTLP_MAX_BODY_BYTES;

  const app = Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }), bodyLimit: maxBody, return503OnClosing: true });
  app.removeAllContentTypeParsers();
  const raw = (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: maxBody }, raw);
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer', bodyLimit: maxBody }, raw);

  function encodingOf(req: FastifyRequest): Encoding {
    return String(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-protobuf') ? 'protobuf' : 'json';
  }

  function send(reply: FastifyReply, enc: Encoding, status: number, body: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } | { error: string }) {
    reply.code(status);
    if ('error' in body) {
      const rpc = { code: GRPC_CODE[status] ?? 2, message: body.error };
      if (enc === 'protobuf') return reply.type('application/x-protobuf').send(Buffer.from(types.rpcStatus.encode(types.rpcStatus.create(rpc)).finish()));
      return reply.type('application/json').send(rpc);
    }
    if (enc === 'protobuf') {
      const msg = body.partialSuccess ? { partialSuccess: { rejectedSpans: body.partialSuccess.rejectedSpans, errorMessage: body.partialSuccess.errorMessage } } : {};
      return reply.type('application/x-protobuf').send(Buffer.from(types.response.encode(types.response.create(msg)).finish()));
    }
    return reply.type('application/json').send(body.partialSuccess ? { partialSuccess: { rejectedSpans: String(body.partialSuccess.rejectedSpans), errorMessage: body.partialSuccess.errorMessage } } : {});
  }

  const bearer = createBearerAuth({ apiKeys: deps.authenticate, failedAuth: deps.failedAuth ?? null });
  const principals = new WeakMap<FastifyRequest, OtlpPrincipal>();
  // Per-tenant intake (issue 17.9); Tollgate's own spans (the internal token) are not limited here.
  const spanBuckets = new TenantBuckets(config.OTLP_TENANT_SPANS_PER_SECOND, config.OTLP_TENANT_SPAN_BURST);
  const byteBuckets = new TenantBuckets(config.OTLP_TENANT_BYTES_PER_SECOND, config.OTLP_TENANT_BYTE_BURST);
  const tenantShare = {
    maxOwnerRows: Math.max(1, Math.floor(config.OTLP_MAX_BUFFERED_SPANS * config.OTLP_TENANT_BUFFER_SHARE)),
    maxOwnedRows: Math.max(1, Math.floor(config.OTLP_MAX_BUFFERED_SPANS * config.OTLP_TENANTS_BUFFER_SHARE)),
  };
  const tooMuch = (reply: FastifyReply, seconds: number, what: string): never => {
    reply.header('Retry-After', String(seconds));
    throw new HttpError(429, `${what}; retry after ${seconds} s`);
  };

  /** Tollgate's own services (the internal token), else a tenant API key through src/identity. */
  async function principalOf(req: FastifyRequest, reply: FastifyReply): Promise<OtlpPrincipal> {
    try {
      const secret = bearerCredential(req.headers);
      if (!secret) throw new HttpError(401, 'missing credentials: send Authorization: Bearer <API key>');
      if (internalDigest && timingSafeEqual(digest(secret), internalDigest)) return { kind: 'internal' };
      const key = await bearer.authenticateBearer({ headers: req.headers, ip: req.ip }, 'api_key');
      return { kind: 'tenant', tenantId: key.tenantId, keyId: key.id };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const wait = retryAfterOf(err);
      if (wait !== undefined) reply.header('Retry-After', String(wait));
      throw new HttpError(err.status, err.message);
    }
  }

  // Credentials are checked before the body is read (issue 17.9): an unauthenticated upload is
  // answered without being buffered.
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST' || req.url.split('?')[0] !== '/v1/traces') return;
    const principal = await principalOf(req, reply);
    principals.set(req, principal);
    if (principal.kind !== 'tenant') return;
    // The declared size is charged before the body is read: a refused upload is never buffered.
    const length = Number(req.headers['content-length']);
    const bytes = Number.isSafeInteger(length) && length >= 0 ? length : maxBody;
    const wait = byteBuckets.take(principal.tenantId, bytes);
    if (wait > 0) {
      reply.header('Connection', 'close');
      tooMuch(reply, wait, `this tenant sends more than ${config.OTLP_TENANT_BYTES_PER_SECOND} bytes/s (burst ${config.OTLP_TENANT_BYTE_BURST})`);
    }
  });

  async function decodeBody(req: FastifyRequest, enc: Encoding): Promise<unknown> {
    let body = req.body as Buffer;
    const contentEncoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    if (contentEncoding === 'gzip') {
      try {
        body = await gunzipAsync(body, { maxOutputLength: maxBody });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw new HttpError(413, `decompressed body exceeds ${maxBody} bytes`);
        throw new HttpError(400, 'body is not valid gzip');
      }
    } else if (contentEncoding !== 'identity' && contentEncoding !== '') {
      throw new HttpError(415, `unsupported Content-Encoding ${contentEncoding.slice(0, 40)}: use gzip or none`);
    }
    if (enc === 'protobuf') {
      try {
        return types.request.decode(body);
      } catch (err) {
        throw new HttpError(400, `body is not a valid ExportTraceServiceRequest protobuf: ${(err as Error).message.slice(0, 200)}`);
      }
    }
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
  }

  app.setErrorHandler(async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const enc = encodingOf(req);
    if (err instanceof HttpError) return send(reply, enc, err.status, { error: err.message });
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return send(reply, enc, e.statusCode, { error: e.message ?? 'bad request' });
    log.error({ err }, 'otlp: request failed');
    return send(reply, enc, 500, { error: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => send(reply, encodingOf(req), 404, { error: 'not found: POST /v1/traces' }));

  app.post('/v1/traces', async (req, reply) => {
    const enc = encodingOf(req);
    const principal = principals.get(req);
    if (!principal) throw new HttpError(401, 'missing credentials: send Authorization: Bearer <API key>');
    const decoded = await decodeBody(req, enc);
    let result;
    try {
      result = spansToRows(decoded, principal, { maxAttributes: config.OTLP_MAX_ATTRIBUTES });
    } catch (err) {
      if (err instanceof OtlpShapeError) throw new HttpError(400, err.message);
      throw err;
    }
    if (principal.kind === 'tenant' && result.rows.length > 0) {
      const wait = spanBuckets.take(principal.tenantId, result.rows.length);
      if (wait > 0) tooMuch(reply, wait, `this tenant sends more than ${config.OTLP_TENANT_SPANS_PER_SECOND} spans/s (burst ${config.OTLP_TENANT_SPAN_BURST})`);
      if (!writer.offer(result.rows, { owner: principal.tenantId, ...tenantShare })) {
        tooMuch(reply, 1, `this tenant's share of the span buffer is full (at most ${tenantShare.maxOwnerRows} spans waiting per tenant)`);
      }
    } else if (result.rows.length > 0 && !writer.offer(result.rows)) {
      reply.header('Retry-After', '1');
      throw new HttpError(503, 'span buffer is full; retry later');
    }
    if (result.rejected > 0) {
      return send(reply, enc, 200, { partialSuccess: { rejectedSpans: result.rejected, errorMessage: result.errors.slice(0, 5).join('; ').slice(0, 1000) } });
    }
    return send(reply, enc, 200, {});
  });

  return {
    app: app as unknown as FastifyInstance,
    writer,
    async listen(port = config.TOLLGATE_OTLP_PORT, host = config.TOLLGATE_HOST) {
      return { port: await listenOn(app, port, host) };
    },
    flush: () => writer.flush(),
    async close() {
      await app.close();
      await writer.close();
    },
  };
}
