/**
 * Starts Tollgate's roles. `tollgate serve` runs every role in one process (a laptop, a
 * test); `--roles inference` etc. runs one role each so a deployment scales them
 * separately. Each role is built from the shared Infra and returns a `stop` that drains it.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../src/config/index.js';
import { createInfra, type Infra } from './infra.js';
import { startTracing, type Tracing } from '../src/telemetry/index.js';
import { createWalUsageSink } from '../src/usage/index.js';
import { createAdmission, fairQueueFactory, getQuotaStatus, reconcileQuotas, type QuotaNotification } from '../src/quotas/index.js';
import { runRetention } from '../src/jobs/index.js';
import { createJobQueues } from '../src/queue/index.js';
import { quotaAlertDedupKey, recordQuotaAlert } from '../src/alerts/index.js';
import { createSyncDeps, runDunningCheck, stripeSyncEnabled, syncInvoices } from '../src/payments/index.js';
import { runAnomalyScan, BUCKET_MS as ANOMALY_BUCKET_MS } from '../src/anomaly-scan/index.js';
import { attemptDelivery, publishAlertTransitions, publishWebhookEvent, sweepDeliveries, type DeliveryDeps } from '../src/webhooks/index.js';
import { runBillingScan } from '../src/invoices/index.js';
import { createInferenceServer } from '../inference/src/index.js';
import { ResponseStore } from '../src/idempotency/index.js';
import { prepareServedModels } from './models.js';
import { createApiServer } from '../graphql/src/index.js';
import { createOtlpReceiver } from '../otlp/src/index.js';
import { assertRestrictedAppRole } from '../src/db/index.js';
import { registerConsole } from './console.js';

export { allRoles, type Role } from './role-names.js';
import type { Role } from './role-names.js';

export interface RunningRole {
  role: Role;
  /** Where it listens, for roles that serve HTTP. */
  url?: string;
  stop(): Promise<void>;
}

export interface RunningStack {
  infra: Infra;
  roles: RunningRole[];
  /** Stops roles in reverse start order (inference drains first), then tracing and connections. */
  stop(): Promise<void>;
}


/** Ports may be overridden (tests pass 0 for ephemeral ports). */
export interface StartOptions {
  config: Config;
  roles: readonly Role[];
  ports?: Partial<Record<'inference' | 'api' | 'otlp', number>>;
}

export async function startStack(opts: StartOptions): Promise<RunningStack> {
  const { config } = opts;
  // Spans from this process to a receiver in this process (or a sibling started with the same
  // OTLP_INTERNAL_TOKEN) are trusted to carry their own tenant.id; tenants' keys never are.
  const internalToken = config.OTLP_INTERNAL_TOKEN ?? randomBytes(24).toString('base64url');
  const infra = createInfra(config, { name: `tollgate-${opts.roles.join('+')}` });
  const ownReceiverPort = opts.roles.includes('otlp') ? (opts.ports?.otlp ?? config.TOLLGATE_OTLP_PORT) : undefined;
  const tracing: Tracing = startTracing({ config, logger: infra.logger, internalToken, ownReceiverPort, resourceAttributes: { 'tollgate.roles': opts.roles.join(',') } });
  const running: RunningRole[] = [];
  const stack: RunningStack = {
    infra,
    roles: running,
    async stop() {
      for (const role of [...running].reverse()) {
        await role.stop().catch((err: unknown) => infra.logger.error({ err, role: role.role }, 'role did not stop cleanly'));
      }
      running.length = 0;
      await tracing.shutdown();
      await infra.close();
    },
  };
  try {
    await assertRestrictedAppRole(infra.pools.app);
    // Order matters for shutdown (reverse): the OTLP receiver outlives the roles that trace into it.
    const order: Role[] = ['otlp', 'worker', 'api', 'inference'];
    for (const role of order.filter((r) => opts.roles.includes(r))) {
      running.push(await starters[role](infra, { tracing, internalToken, port: opts.ports?.[role as 'api'] }));
      infra.logger.info({ role, url: running.at(-1)?.url }, 'role started');
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

interface StarterContext {
  tracing: Tracing;
  internalToken: string;
  port: number | undefined;
}

const starters: Record<Role, (infra: Infra, ctx: StarterContext) => Promise<RunningRole>> = {
  async inference(infra, ctx) {
    const { config, logger, clickhouse, redis, pools } = infra;
    prepareServedModels({ repository: config.TOLLGATE_MODEL_REPOSITORY, logger });
    const usageSink = createWalUsageSink({ config, logger, clickhouse, redis });
    await usageSink.start();
    const admission = createAdmission({ config, redis, pools, logger, notify: (n) => recordQuotaNotification(infra, n) });
    const server = await createInferenceServer({
      config,
      logger,
      authenticate: (secret, opts) => infra.authenticator.authenticate(secret, opts),
      failedAuth: infra.failedAuth,
      usageSink,
      admission,
      queueFactory: fairQueueFactory,
      tracer: ctx.tracing.tracer,
      ...(config.INFERENCE_REPLAY_MAX_BYTES > 0
        ? { responses: new ResponseStore({ redis: infra.redis, prefix: config.REDIS_PREFIX, windowSeconds: config.IDEMPOTENCY_WINDOW_SECONDS, maxBytes: config.INFERENCE_REPLAY_MAX_BYTES }) }
        : {}),
    });
    const { port } = await server.listen(ctx.port ?? config.TOLLGATE_INFERENCE_PORT, config.TOLLGATE_HOST);
    return {
      role: 'inference',
      url: `http://${config.TOLLGATE_HOST}:${port}`,
      async stop() {
        await server.close(); // stop accepting, finish accepted requests
        await admission.close();
        await usageSink.stop({ drain: true }); // what cannot drain stays in the WAL for the next start
      },
    };
  },

  async api(infra, ctx) {
    const { config, logger, pools, clickhouse, redis } = infra;
    const api = await createApiServer({
      config,
      logger,
      pools,
      clickhouse,
      redis,
      authenticate: (secret, opts) => infra.authenticator.authenticate(secret, opts),
      failedAuth: infra.failedAuth,
      quotaStatus: (q) => getQuotaStatus({ config, redis, pools, clickhouse }, q),
    });
    // The tenant console (GET /console) is served by the API role, same origin as /graphql.
    if (!registerConsole(api.app).built) logger.warn('the console is not built (run node console/build.mjs): GET /console answers 503');
    const url = await api.listen(ctx.port ?? config.TOLLGATE_API_PORT, config.TOLLGATE_HOST);
    return { role: 'api', url, stop: () => api.close() };
  },

  async otlp(infra, ctx) {
    const { config, logger, clickhouse } = infra;
    const receiver = createOtlpReceiver({
      config,
      logger,
      clickhouse,
      authenticate: (secret, opts) => infra.authenticator.authenticate(secret, opts),
      failedAuth: infra.failedAuth,
      internalToken: ctx.internalToken,
    });
    const { port } = await receiver.listen(ctx.port ?? config.TOLLGATE_OTLP_PORT, config.TOLLGATE_HOST);
    return {
      role: 'otlp',
      url: `http://${config.TOLLGATE_HOST}:${port}/v1/traces`,
      async stop() {
        await ctx.tracing.forceFlush().catch(() => undefined);
        await receiver.close();
      },
    };
  },

  async worker(infra) {
    const { config, logger, clickhouse, redis, pools } = infra;
    const queues = createJobQueues({ redisUrl: config.REDIS_URL, prefix: config.REDIS_PREFIX, logger });
    queues.process('usage.retention', async () => runRetention({ clickhouse, config, logger }));
    queues.process('quotas.reconcile', async () => reconcileQuotas({ config, redis, clickhouse, pools, logger }));
    await queues.schedule('usage.retention', {}, config.RETENTION_INTERVAL_MS);
    await queues.schedule('quotas.reconcile', {}, config.QUOTA_RECONCILE_INTERVAL_MS);
    queues.process('payments.dunning', async () => runDunningCheck({ pools, logger, redis, config }));
    await queues.schedule('payments.dunning', {}, config.DUNNING_CHECK_INTERVAL_MS);
    const stripeSync = stripeSyncEnabled(config, logger) ? createSyncDeps({ pools, logger, config }) : null;
    if (stripeSync) {
      queues.process('payments.stripe-sync', async (payload) => {
        const r = await syncInvoices(stripeSync, payload);
        // A retryable failure of one invoice's job goes back to bull's backoff; the sweep retries the rest.
        if (payload.invoiceId && r.failed.some((f) => f.retryable)) throw new Error(`stripe sync of ${payload.invoiceId}: ${r.failed[0]!.error}`);
        return { synced: r.synced.length, failed: r.failed.length };
      });
      await queues.schedule('payments.stripe-sync', {}, config.STRIPE_SYNC_INTERVAL_MS);
    }
    const delivery = webhookDeliveryDeps(infra, (deliveryId, delayMs) => queues.enqueue('webhooks.deliver', { deliveryId }, { delayMs }).then(() => undefined));
    queues.process('anomaly.scan', async () => {
      const r = await runAnomalyScan({ clickhouse, pools, logger }, { settleMs: config.ANOMALY_SETTLE_MS, topModels: config.ANOMALY_TOP_MODELS });
      const webhooks = await publishAlertTransitions(delivery, r, { maxAgeMs: config.ANOMALY_NOTIFY_MAX_AGE_MS, bucketMs: ANOMALY_BUCKET_MS });
      return { scored: r.scored, opened: r.opened.length, resolved: r.resolved.length, webhooks };
    });
    await queues.schedule('anomaly.scan', {}, config.ANOMALY_SCAN_INTERVAL_MS);
    queues.process('webhooks.deliver', async ({ deliveryId }) => attemptDelivery(delivery, deliveryId), 4);
    queues.process('webhooks.sweep', async () => sweepDeliveries(delivery));
    await queues.schedule('webhooks.sweep', {}, config.WEBHOOK_SWEEP_INTERVAL_MS);
    queues.process('billing.close', async () => {
      const r = await runBillingScan({ pools, clickhouse, redis, config, logger });
      return { generated: r.generated, resumed: r.resumed, refreshed: r.refreshed, finalized: r.finalized, waiting: r.waiting.length, failed: r.failed.length };
    });
    await queues.schedule('billing.close', {}, config.BILLING_SCAN_INTERVAL_MS);
    return { role: 'worker', stop: () => queues.close() };
  },
};

/** What webhook delivery needs from the infra; `enqueue` schedules attempts as bull jobs (absent: the worker's sweep finds them). */
export function webhookDeliveryDeps(infra: Pick<Infra, 'pools' | 'logger' | 'config'>, enqueue?: DeliveryDeps['enqueue']): DeliveryDeps {
  const c = infra.config;
  return {
    pools: infra.pools,
    logger: infra.logger,
    settings: { allowPrivateTargets: c.WEBHOOK_ALLOW_PRIVATE_TARGETS, timeoutMs: c.WEBHOOK_TIMEOUT_MS, maxResponseBytes: c.WEBHOOK_MAX_RESPONSE_BYTES },
    ...(enqueue ? { enqueue } : {}),
  };
}

/** A lost notification must never fail the inference request that crossed the threshold. */
async function recordQuotaNotification(infra: Pick<Infra, 'pools' | 'logger' | 'config'>, n: QuotaNotification): Promise<void> {
  try {
    await recordQuotaAlert(infra, n);
    // a quota.threshold webhook per crossing (the worker's sweep sends it; the key delivers it once)
    const data = { ...n, periodStart: n.periodStart.toISOString(), periodEnd: n.periodEnd.toISOString() };
    await publishWebhookEvent(webhookDeliveryDeps(infra), { tenantId: n.tenantId, type: 'quota.threshold', key: quotaAlertDedupKey(n), data });
  } catch (err) {
    infra.logger.warn({ err, tenantId: n.tenantId, meter: n.meter }, 'could not record quota notification');
  }
}
