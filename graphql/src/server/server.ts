/**
 * The API role: fastify + Apollo Server 5 at POST /graphql.
 *
 *   const api = await createApiServer({ config, logger, pools, clickhouse, redis, authenticate, quotaStatus? });
 *   await api.listen();            // config.TOLLGATE_API_PORT on config.TOLLGATE_HOST (tests: listen(0))
 *   await api.close();
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import fastifyApollo, { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { GraphQLSchema } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { createBearerAuth, createJwtVerifier, createSubjectResolver, retryAfterOf } from '../../../src/identity/index.js';
import { registerExportRoutes } from './exports.js';
import { registerStripeWebhookRoute } from './stripe-webhooks.js';
import { registerGrafanaWebhookRoute } from './grafana-webhooks.js';
import { buildServices, createLoaders, type ApiContext, type ApiServerDeps, type Services } from '../context.js';
import { buildApiSchema } from '../schema/build.js';
import { apiError, classify } from './errors.js';
import { guardBody, loadSafelist, type Safelist } from './guard.js';
import { rowBudgetPlugin } from './row-budget.js';
import { introspectionDepthRule } from './introspection-limits.js';
import { createRedisRateLimiter, type RateLimiter } from './rate-limit.js';
import { redisKey, isAppError, listenOn, packageRoot } from '../../../src/shared/index.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { JWTVerifyGetKey } from 'jose';

export interface ApiServer {
  app: FastifyInstance;
  schema: GraphQLSchema;
  /** Listens (default: config.TOLLGATE_API_PORT on config.TOLLGATE_HOST); resolves to the bound URL of /graphql. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  /** A JWKS key source (instead of JWT_JWKS_URL), e.g. jose's createLocalJWKSet in tests. */
  jwtKeySet?: JWTVerifyGetKey;
  /** Replace the Redis token bucket (tests). */
  rateLimiter?: RateLimiter;
}

/** Query protection: graphql-armor validation rules (depth, aliases, cost, directives) + no field suggestions. */
export const armorLimits = { maxDepth: 10, maxAliases: 15, costLimit: 20000, maxDirectives: 50 } as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Reported by GET /healthz (`tollgate status` shows it per role). */
const packageVersion = (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

export async function createApiServer(deps: ApiServerDeps, options: ApiServerOptions = {}): Promise<ApiServer> {
  const { config, logger } = deps;
  const services: Services = buildServices(deps);
  const schema = buildApiSchema();
  // JWT subjects' rights come from memberships / the operator list (cached, invalidated on change).
  const subjects = createSubjectResolver({ pools: deps.pools, redis: deps.redis, config, log: logger });
  await subjects.ready; // never rejects: without the subscription the cache TTL bounds staleness
  const jwt = createJwtVerifier(config, { subjects, ...(options.jwtKeySet ? { getKey: options.jwtKeySet } : {}) });
  const bearer = createBearerAuth({ apiKeys: deps.authenticate, jwt, failedAuth: deps.failedAuth ?? null });
  const safelist: Safelist | null = config.GRAPHQL_SAFELIST_FILE ? loadSafelist(config.GRAPHQL_SAFELIST_FILE) : null;
  const limiter =
    options.rateLimiter ??
    createRedisRateLimiter({
      redis: deps.redis,
      keyPrefix: redisKey(config, 'api', 'rl'),
      perSecond: config.GRAPHQL_RATE_LIMIT_PER_SECOND,
      burst: config.GRAPHQL_RATE_LIMIT_BURST,
      onError: (err) => logger.warn({ err }, 'api rate limiter: redis unavailable, allowing request'),
    });

  const app = Fastify({
    logger: false,
    bodyLimit: 256 * 1024,
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('preHandler', async (req, reply) => {
    if (req.routeOptions.url !== '/graphql') return;
    const verdict = guardBody(req.body, safelist);
    if (!verdict.ok) {
      return reply.code(verdict.status).type('application/json').send({ errors: [{ message: verdict.message, extensions: { code: verdict.code, requestId: req.id } }] });
    }
  });
  app.get('/healthz', async () => ({ status: 'ok', version: packageVersion }));

  const armor = new ApolloArmor({
    // Introspection (`__schema`) has its own depth rule (introspection-limits.ts): the standard
    // query's ofType chain is deep but cheap; re-entering types is refused by graphql-js itself.
    maxDepth: { n: armorLimits.maxDepth, ignoreIntrospection: true },
    maxAliases: { n: armorLimits.maxAliases },
    costLimit: { maxCost: armorLimits.costLimit },
    maxDirectives: { n: armorLimits.maxDirectives },
    maxTokens: { enabled: false }, // enforced before parsing, in guard.ts
    blockFieldSuggestion: { enabled: true },
  });
  const protection = armor.protect();

  const requestIdPlugin: ApolloServerPlugin<ApiContext> = {
    async requestDidStart() {
      return {
        async didEncounterErrors({ contextValue, errors }) {
          for (const error of errors) {
            const c = classify({ message: error.message, extensions: error.extensions }, error);
            if (c.unexpected) logger.error({ err: error.originalError ?? error, requestId: contextValue.requestId, path: error.path }, 'graphql: unexpected error');
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind === 'single' && response.body.singleResult.errors) {
            for (const e of response.body.singleResult.errors) (e.extensions as Record<string, unknown>).requestId = contextValue.requestId;
          }
        },
      };
    },
  };

  const apollo = new ApolloServer<ApiContext>({
    schema,
    introspection: config.GRAPHQL_INTROSPECTION ?? config.NODE_ENV !== 'production',
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: false,
    persistedQueries: false,
    validationRules: [...protection.validationRules, introspectionDepthRule(armorLimits.maxDepth)],
    plugins: [
      ...(protection.plugins as ApolloServerPlugin<ApiContext>[]),
      fastifyApolloDrainPlugin(app),
      requestIdPlugin,
      rowBudgetPlugin(config),
      // Both would wrap every field resolver (willResolveField): real cost on large lists, no use here.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
    formatError(formatted, error) {
      const c = classify(formatted, error);
      const extensions: Record<string, unknown> = { code: c.code };
      if (c.details) extensions.details = c.details;
      const requestId = (formatted.extensions as Record<string, unknown> | undefined)?.requestId;
      if (typeof requestId === 'string') extensions.requestId = requestId;
      return { message: c.message, ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}), extensions };
    },
  });
  await apollo.start();

  /**
   * The gate every API request passes (GraphQL and the REST routes alike): the principal from
   * the credentials, the per-tenant rate limit, and a suspended tenant's users shut out (its API
   * keys are refused in resolve.ts). Throws GraphQL errors carrying their HTTP status.
   */
  async function admit(request: FastifyRequest, reply: FastifyReply): Promise<{ principal: Principal | null; loaders: ReturnType<typeof createLoaders> }> {
    const requestId = String(request.id);
    let principal: Principal | null;
    try {
      principal = await bearer.authenticateBearer({ headers: request.headers, ip: request.ip }, 'api_key_or_user');
    } catch (err) {
      if (isAppError(err) && err.code === 'UNAUTHENTICATED') throw withRequestId(apiError('UNAUTHENTICATED', err.message, { status: 401 }), requestId);
      if (isAppError(err) && err.code === 'FORBIDDEN') throw withRequestId(apiError('FORBIDDEN', err.message, { status: 403 }), requestId);
      const wait = retryAfterOf(err);
      if (wait !== undefined) {
        reply.header('retry-after', String(wait));
        throw withRequestId(apiError('RATE_LIMITED', (err as Error).message, { status: 429, headers: { 'retry-after': String(wait) } }), requestId);
      }
      throw err;
    }
    if (principal) {
      const bucket = principal.tenantId ? `t:${principal.tenantId}` : `p:${principal.id}`;
      const verdict = await limiter.take(bucket);
      if (!verdict.allowed) {
        const seconds = String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)));
        reply.header('retry-after', seconds);
        throw withRequestId(apiError('RATE_LIMITED', 'too many API requests for this tenant', { status: 429, headers: { 'retry-after': seconds } }), requestId);
      }
    }
    // A suspended tenant's keys and users were refused by authenticateBearer (src/identity).
    return { principal, loaders: createLoaders({ principal, services }) };
  }

  await app.register(fastifyApollo(apollo), {
    path: '/graphql',
    method: ['POST'],
    context: async (request, reply): Promise<ApiContext> => {
      const { principal, loaders } = await admit(request, reply);
      return { principal, requestId: String(request.id), services, loaders };
    },
  });
  registerExportRoutes(app, { admit: async (request, reply) => (await admit(request, reply)).principal, clickhouse: services.clickhouse, logger });
  await registerStripeWebhookRoute(app, { pools: deps.pools, logger, config, redis: deps.redis });
  await registerGrafanaWebhookRoute(app, { pools: deps.pools, config });

  let closed: Promise<void> | undefined;
  return {
    app,
    schema,
    async listen(port = config.TOLLGATE_API_PORT, host = config.TOLLGATE_HOST) {
      const bound = await listenOn(app, port, host);
      return `http://${host.includes(':') ? `[${host}]` : host}:${bound}/graphql`;
    },
    close() {
      closed ??= app.close().then(() => subjects.close());
      return closed;
    },
  };
}

function withRequestId<E extends { extensions: Record<string, unknown> }>(err: E, requestId: string): E {
  (err.extensions as Record<string, unknown>).requestId = requestId;
  return err;
}
