/** Row -> GraphQL object conversions. */
import type { ApiKeyInfo } from '../../../../src/keys/index.js';
import type { PriceComponentRow } from '../../../../src/plans/index.js';
import type { ApiKeyRow, PlanRow, TenantRow } from '../../data/pg.js';
import type { MemberRow } from '../../../../src/identity/index.js';
import { ApiKey, Plan, PriceComponentType, Tenant, User } from '../types.js';
import { KeyRoleEnum, RoleEnum } from '../common.js';
import { formatScaledMicros, parseTiers, tierRows, toScaledMicros } from '../../../../src/billing/index.js';

export function toTenant(r: TenantRow): Tenant {
  return Object.assign(new Tenant(), r);
}

export function toPlan(r: PlanRow): Plan {
  return Object.assign(new Plan(), {
    id: r.id,
    code: r.code,
    name: r.name,
    description: r.description,
    currency: r.currency,
    quotas: r.quotas,
    priorityTier: r.priorityTier,
    active: r.active,
  });
}

export function toApiKey(r: ApiKeyRow | ApiKeyInfo): ApiKey {
  return Object.assign(new ApiKey(), {
    id: r.id,
    tenantId: r.tenantId,
    name: r.name,
    prefix: r.prefix,
    role: r.role as KeyRoleEnum,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
    expiresAt: r.expiresAt,
    createdByRef: r.createdBy,
  });
}

export function toUser(r: MemberRow): User {
  return Object.assign(new User(), { id: r.id, name: r.name, email: r.email, role: r.role as RoleEnum });
}

export function toPriceComponent(r: PriceComponentRow): PriceComponentType {
  return Object.assign(new PriceComponentType(), {
    id: r.id,
    meter: r.meter,
    model: r.model,
    unitPriceMicros: r.unitPriceMicros === null ? null : formatScaledMicros(toScaledMicros(r.unitPriceMicros)),
    // Rendered from the exact parse: the decimal text as stored, or a loud error (> 6 decimals), never a float.
    tiers: tierRows(parseTiers(r.tiers)).map((t) => ({ upTo: t.up_to, unitPriceMicros: t.unit_price_micros, flatFeeMicros: t.flat_fee_micros })),
    packageSize: r.packageSize === null ? null : Number(r.packageSize),
    includedQuantity: Number(r.includedQuantity),
    currency: r.currency,
    effectiveFrom: r.effectiveFrom,
    effectiveTo: r.effectiveTo,
  });
}
