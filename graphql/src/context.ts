/**
 * Per-request state: the principal (resolved once), the request id, DataLoaders (fresh per
 * request, so nothing is cached across principals) and the shared services.
 */
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config/index.js';
import { badInput, notFound, unauthenticated, type Logger } from '../../src/shared/index.js';
import { isUuid, withPlatform, withTenant, type PgPools } from '../../src/db/index.js';
import type { ClickHouse } from '../../src/clickhouse/index.js';
import type { PriceComponentRow } from '../../src/plans/index.js';
import { parseDecimalRate, type DecimalRate } from '../../src/billing/index.js';
import type { Actor } from '../../src/audit/index.js';
import { stripeStateByInvoiceIds, type StripeInvoiceState } from '../../src/payments/index.js';
import { creditNotesByInvoiceIds, linesByInvoiceIds, type CreditNote as InvoiceCreditNote, type InvoiceLine as InvoiceLineRow } from '../../src/invoices/index.js';
import type { Principal } from './auth/principal.js';
import { membersByKeys, type ApiKeyLookup, type FailedAuthLimiter, type MemberRow } from '../../src/identity/index.js';
import * as db from './data/pg.js';
import { defaultQuotaStatus, type QuotaStatusFn } from './quotas.js';

export interface ApiServerDeps {
  config: Config;
  logger: Logger;
  pools: PgPools;
  clickhouse: ClickHouse;
  redis: Redis;
  /** API-key lookup (src/keys createApiKeyAuthenticator(...).authenticate). */
  authenticate: ApiKeyLookup;
  /** The failed-credential limiter in front of that lookup (src/identity; issue 17.10). */
  failedAuth?: FailedAuthLimiter | null;
  /** Quota status; default: src/quotas getQuotaStatus over these deps. */
  quotaStatus?: QuotaStatusFn;
}

export interface Services extends ApiServerDeps {
  quotaStatus: QuotaStatusFn;
  costRates: { cpu: DecimalRate; cuda: DecimalRate };
}

export function buildServices(deps: ApiServerDeps): Services {
  return {
    ...deps,
    quotaStatus: deps.quotaStatus ?? defaultQuotaStatus(deps),
    costRates: { cpu: parseDecimalRate(deps.config.COST_RATE_MICROS_PER_CPU_MS), cuda: parseDecimalRate(deps.config.COST_RATE_MICROS_PER_CUDA_MS) },
  };
}

export interface Loaders {
  tenant: DataLoader<string, db.TenantRow | null>;
  plan: DataLoader<string, db.PlanRow | null>;
  priceComponents: DataLoader<string, PriceComponentRow[]>;
  stripeCustomer: DataLoader<string, string | null>;
  member: DataLoader<string, MemberRow | null, string>;
  apiKey: DataLoader<string, db.ApiKeyRow | null>;
  invoiceLines: DataLoader<string, InvoiceLineRow[]>;
  creditNotes: DataLoader<string, InvoiceCreditNote[]>;
  stripeInvoice: DataLoader<string, StripeInvoiceState | null>;
}

export interface ApiContext {
  principal: Principal | null;
  requestId: string;
  services: Services;
  loaders: Loaders;
}

/** Runs `fn` in a transaction scoped to what the principal may see: its tenant (RLS), or everything for platform. */
export function scoped<T>(ctx: Pick<ApiContext, 'principal' | 'services'>, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const p = ctx.principal;
  if (!p) return Promise.reject(unauthenticated());
  const pool = ctx.services.pools.app;
  if (p.role === 'platform') return withPlatform(pool, fn);
  if (!p.tenantId) return Promise.reject(unauthenticated());
  return withTenant(pool, { tenantId: p.tenantId }, fn);
}

function byKey<K, V>(keys: readonly K[], rows: V[], keyOf: (v: V) => K): (V | null)[] {
  const map = new Map<K, V>();
  for (const r of rows) map.set(keyOf(r), r);
  return keys.map((k) => map.get(k) ?? null);
}

export function createLoaders(ctx: Pick<ApiContext, 'principal' | 'services'>): Loaders {
  const uuids = (keys: readonly string[]) => keys.filter(isUuid);
  return {
    tenant: new DataLoader(async (ids) => byKey(ids, await scoped(ctx, (c) => db.tenantsByIds(c, uuids(ids))), (r) => r.id)),
    plan: new DataLoader(async (tenantIds) => byKey(tenantIds, await scoped(ctx, (c) => db.plansByTenantIds(c, uuids(tenantIds))), (r) => r.tenantId)),
    priceComponents: new DataLoader(async (planIds) => {
      const rows = await scoped(ctx, (c) => db.priceComponentsByPlanIds(c, uuids(planIds), new Date()));
      return planIds.map((id) => rows.filter((r) => r.planId === id));
    }),
    stripeCustomer: new DataLoader(async (tenantIds) => {
      const rows = await scoped(ctx, (c) => db.stripeCustomersByTenantIds(c, uuids(tenantIds)));
      return byKey(tenantIds, rows, (r) => r.tenantId).map((r) => r?.stripeId ?? null);
    }),
    member: new DataLoader(async (keys) => {
      const pairs = keys.map((k) => {
        const [tenantId = '', userId = ''] = k.split('|');
        return { tenantId, userId };
      });
      const rows = await scoped(ctx, (c) => membersByKeys(c, pairs));
      return byKey(keys, rows, (r) => `${r.tenantId}|${r.id}`);
    }),
    apiKey: new DataLoader(async (ids) => byKey(ids, await scoped(ctx, (c) => db.apiKeysByIds(c, uuids(ids))), (r) => r.id)),
    invoiceLines: new DataLoader(async (ids) => {
      const rows = await scoped(ctx, (c) => linesByInvoiceIds(c, ids));
      return ids.map((id) => rows.filter((r) => r.invoiceId === id));
    }),
    creditNotes: new DataLoader(async (ids) => {
      const rows = await scoped(ctx, (c) => creditNotesByInvoiceIds(c, ids));
      return ids.map((id) => rows.filter((r) => r.invoiceId === id));
    }),
    stripeInvoice: new DataLoader(async (ids) => byKey(ids, await scoped(ctx, (c) => stripeStateByInvoiceIds(c, uuids(ids))), (r) => r.invoiceId)),
  };
}

export function requirePrincipal(ctx: Pick<ApiContext, 'principal'>): Principal {
  if (!ctx.principal) throw unauthenticated();
  return ctx.principal;
}

/**
 * The tenant an operation acts on. Tenant roles: always their own; naming another tenant reads
 * as NOT_FOUND (exactly like a tenant that does not exist). Platform: the named tenant (which
 * must exist), else its home tenant.
 */
export async function resolveTenant(ctx: ApiContext, requested?: string | null): Promise<string> {
  const p = requirePrincipal(ctx);
  if (p.role !== 'platform') {
    if (!p.tenantId) throw unauthenticated();
    if (requested !== undefined && requested !== null && requested !== p.tenantId) throw notFound('tenant not found');
    return p.tenantId;
  }
  const id = requested ?? p.tenantId;
  if (!id) throw badInput('tenantId is required for platform operators');
  if (!isUuid(id) || !(await ctx.loaders.tenant.load(id))) throw notFound('tenant not found');
  return id;
}

/** The audit actor of this request. */
export function actorOf(ctx: ApiContext): Actor {
  const p = requirePrincipal(ctx);
  const type = p.role === 'platform' ? 'platform' : p.kind;
  return { type, id: p.id, requestId: ctx.requestId };
}
