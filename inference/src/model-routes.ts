/**
 * The read-only OIP routes: health, server metadata, and per model metadata, readiness and
 * (Triton's extension) configuration. Health and server metadata need no key; model routes
 * need one, and another tenant's private model answers exactly like a missing one (404).
 * Health bodies follow KServe's spec ({"live"}, {"ready"}, {"name", "ready"}); Triton's
 * clients read only the status, KServe's parse the body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { notFoundModel } from './errors.js';
import { tritonModelConfig } from './oip/model-config.js';
import { fullShape } from './repository/config.js';
import type { ModelRegistry, Resolved } from './repository/registry.js';
import type { RequestTracker } from './request.js';

export const SERVER_NAME = 'tollgate';
export const SERVER_VERSION = '0.1.0';

/** Extensions named in server metadata (Triton's names for what it supports the same way). */
export const SERVER_EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration', 'parameters'];

export interface ModelRouteDeps {
  registry: ModelRegistry;
  tracker: RequestTracker;
  authHook: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** Models loaded and not shutting down. */
  ready: () => boolean;
  /** Not shutting down. */
  accepting: () => boolean;
  defaultQueueSize: number;
  requestTimeoutMs: number;
}

type ModelParams = { model: string; version?: string };

export function registerModelRoutes(app: FastifyInstance, deps: ModelRouteDeps): void {
  const { registry, tracker } = deps;

  // Not ready is 503 (KServe's answer); Triton's clients only compare the status with 200.
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => {
    const ready = deps.ready();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/v2', async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: SERVER_EXTENSIONS }));

  /** The model the caller may see, or the same 404 for missing, unknown version and private to another tenant. */
  const resolve = (request: FastifyRequest<{ Params: ModelParams }>): Resolved & { version: NonNullable<Resolved['version']> } => {
    const { model, version } = request.params;
    const r = registry.resolve(model, version, tracker.principal(request).tenantId);
    if (!r?.version) throw notFoundModel(model, version);
    return r as Resolved & { version: NonNullable<Resolved['version']> };
  };

  const metadata = async (request: FastifyRequest<{ Params: ModelParams }>) => {
    const r = resolve(request);
    const tensors = (xs: typeof r.config.inputs) => xs.map((t) => ({ name: t.name, datatype: t.datatype, shape: fullShape(r.config, t) }));
    return {
      name: r.name,
      versions: request.params.version === undefined ? r.versions : [request.params.version],
      platform: r.config.platform,
      inputs: tensors(r.config.inputs),
      outputs: tensors(r.config.outputs),
    };
  };
  const modelReady = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const r = resolve(request);
    const ready = deps.accepting();
    return reply.code(ready ? 200 : 503).send({ name: r.name, ready });
  };
  const modelConfig = async (request: FastifyRequest<{ Params: ModelParams }>) => {
    const r = resolve(request);
    const { batcher, spec } = r.version;
    return tritonModelConfig(r.name, r.config, {
      instances: batcher.instances.length,
      device: batcher.instances[0]?.device ?? 'cpu',
      file: spec.file,
      defaultQueueSize: deps.defaultQueueSize,
      requestTimeoutMs: deps.requestTimeoutMs,
    });
  };
  for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    app.get<{ Params: ModelParams }>(prefix, { onRequest: deps.authHook }, metadata);
    app.get<{ Params: ModelParams }>(`${prefix}/ready`, { onRequest: deps.authHook }, modelReady);
    app.get<{ Params: ModelParams }>(`${prefix}/config`, { onRequest: deps.authHook }, modelConfig);
  }
}
