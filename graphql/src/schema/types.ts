/** Object types of the API. Guarded fields are nullable so a denial nulls only that field. */
import { Authorized, Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { EMAIL, MONEY, PLATFORM } from '../auth/checker.js';
import { DecimalMicrosScalar, MicrosScalar } from './scalars.js';
import { KeyRoleEnum, PageInfo, RoleEnum } from './common.js';

@ObjectType({ description: 'A person. Email is visible to themselves, tenant admins and platform operators.' })
export class User {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Authorized(...EMAIL)
  @Field(() => String, { nullable: true })
  email!: string | null;

  @Field(() => RoleEnum, { nullable: true, description: 'Role in the tenant being viewed.' })
  role!: RoleEnum | null;
}

@ObjectType()
export class BillingPeriod {
  @Field(() => DateTimeResolver)
  start!: Date;

  @Field(() => DateTimeResolver, { description: 'Exclusive.' })
  end!: Date;
}

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class PriceTier {
  @Field(() => SafeIntResolver, { nullable: true, description: 'Inclusive cumulative upper bound; null = unbounded.' })
  upTo!: number | null;

  @Field(() => DecimalMicrosScalar)
  unitPriceMicros!: string;

  @Field(() => DecimalMicrosScalar)
  flatFeeMicros!: string;
}

@ObjectType('PriceComponent', { description: 'One charge of a plan. Visible to admin, finance and platform (money).' })
export class PriceComponentType {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  meter!: string;

  @Field(() => String, { description: 'standard | graduated | volume | package' })
  model!: string;

  @Field(() => DecimalMicrosScalar, { nullable: true })
  unitPriceMicros!: string | null;

  @Field(() => [PriceTier])
  tiers!: PriceTier[];

  @Field(() => SafeIntResolver, { nullable: true })
  packageSize!: number | null;

  @Field(() => SafeIntResolver)
  includedQuantity!: number;

  @Field(() => String)
  currency!: string;

  @Field(() => DateTimeResolver)
  effectiveFrom!: Date;

  @Field(() => DateTimeResolver, { nullable: true })
  effectiveTo!: Date | null;
}

@ObjectType('PlanQuota')
export class PlanQuotaType {
  @Field(() => String)
  meter!: string;

  @Field(() => SafeIntResolver)
  limit!: number;

  @Field(() => Boolean)
  hard!: boolean;
}

@ObjectType()
export class Plan {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  code!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  description!: string;

  @Field(() => String)
  currency!: string;

  @Field(() => [PlanQuotaType])
  quotas!: PlanQuotaType[];

  @Authorized(...PLATFORM)
  @Field(() => Int, { nullable: true, description: 'Plan internals (platform): admission weight.' })
  priorityTier!: number | null;

  @Authorized(...PLATFORM)
  @Field(() => Boolean, { nullable: true, description: 'Plan internals (platform).' })
  active!: boolean | null;

  // priceComponents: field resolver in PlanResolver (money).
}

@ObjectType()
export class Tenant {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  displayName!: string;

  @Field(() => String, { description: 'active | suspended' })
  status!: string;

  @Field(() => String)
  timezone!: string;

  @Field(() => String)
  currency!: string;

  @Field(() => Int)
  billingAnchorDay!: number;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  // plan, period, stripeCustomerId: field resolvers in TenantResolver.
}

@ObjectType()
export class TenantEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Tenant)
  node!: Tenant;
}

@ObjectType()
export class TenantConnection {
  @Field(() => [TenantEdge])
  edges!: TenantEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType({ description: 'An API key. Its secret is shown once, in CreateApiKeyPayload, and never again.' })
export class ApiKey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'The first characters of the secret, to recognise it.' })
  prefix!: string;

  @Field(() => KeyRoleEnum)
  role!: KeyRoleEnum;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true })
  lastUsedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  expiresAt!: Date | null;

  /** Internal: `user:<id>`, `api_key:<id>`, `platform:<id>` (resolved to a User by createdBy). */
  createdByRef!: string | null;
  tenantId!: string;
}

@ObjectType()
export class ApiKeyEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => ApiKey)
  node!: ApiKey;
}

@ObjectType()
export class ApiKeyConnection {
  @Field(() => [ApiKeyEdge])
  edges!: ApiKeyEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType()
export class CreateApiKeyPayload {
  @Field(() => ApiKey)
  apiKey!: ApiKey;

  @Field(() => String, { description: 'The secret. Shown only in this response; store it now.' })
  secret!: string;
}

@ObjectType()
export class Viewer {
  @Field(() => String, { description: 'user | api_key' })
  kind!: string;

  @Field(() => ID)
  id!: string;

  @Field(() => RoleEnum)
  role!: RoleEnum;

  @Field(() => ID, { nullable: true })
  tenantId!: string | null;

  // tenant, user: field resolvers.
}

@ObjectType()
export class MeterQuota {
  @Field(() => String)
  meter!: string;

  @Field(() => String, { description: 'TENANT, or API_KEY for caps of the calling key.' })
  scope!: string;

  @Field(() => ID, { nullable: true })
  apiKeyId!: string | null;

  @Field(() => SafeIntResolver, { nullable: true, description: 'null = unlimited.' })
  limit!: number | null;

  @Field(() => SafeIntResolver)
  used!: number;

  @Field(() => SafeIntResolver, { nullable: true })
  remaining!: number | null;

  @Field(() => Boolean)
  hard!: boolean;

  @Field(() => DateTimeResolver)
  resetAt!: Date;
}

@ObjectType()
export class RateLimitStatus {
  @Field(() => Int)
  limitPerSecond!: number;

  @Field(() => Int)
  burst!: number;

  @Field(() => Int)
  maxConcurrency!: number;

  @Field(() => Float, { nullable: true, description: 'Tokens left in the shared bucket now.' })
  remaining!: number | null;

  @Field(() => Int, { nullable: true, description: 'Requests in flight across all processes.' })
  inFlight!: number | null;
}

@ObjectType('QuotaStatus')
export class QuotaStatusType {
  @Field(() => BillingPeriod)
  period!: BillingPeriod;

  @Field(() => [MeterQuota])
  meters!: MeterQuota[];

  @Field(() => RateLimitStatus)
  rate!: RateLimitStatus;
}

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class UsagePoint {
  @Field(() => DateTimeResolver)
  bucket!: Date;

  @Field(() => SafeIntResolver)
  requests!: number;

  @Field(() => SafeIntResolver)
  errorRequests!: number;

  @Field(() => SafeIntResolver)
  items!: number;

  @Field(() => SafeIntResolver)
  inputBytes!: number;

  @Field(() => SafeIntResolver)
  outputBytes!: number;

  @Field(() => SafeIntResolver, { description: 'Billed compute, microseconds.' })
  computeUs!: number;
}

// No guarded fields: plain property reads.
@ObjectType({ simpleResolvers: true, description: 'The points of a series as parallel arrays (compact, for charts).' })
export class UsageColumns {
  @Field(() => [DateTimeResolver])
  buckets!: Date[];

  @Field(() => [SafeIntResolver])
  requests!: number[];

  @Field(() => [SafeIntResolver])
  errorRequests!: number[];

  @Field(() => [SafeIntResolver])
  items!: number[];

  @Field(() => [SafeIntResolver])
  inputBytes!: number[];

  @Field(() => [SafeIntResolver])
  outputBytes!: number[];

  @Field(() => [SafeIntResolver])
  computeUs!: number[];
}

@ObjectType()
export class UsageSeries {
  @Field(() => String, { description: 'The group value (model, API key id or tag value); "" when not grouped.' })
  key!: string;

  @Field(() => [UsagePoint])
  points!: UsagePoint[];

  apiKeyId!: string | null;
  tenantId!: string;
}

@ObjectType()
export class UsageReport {
  @Field(() => DateTimeResolver)
  from!: Date;

  @Field(() => DateTimeResolver)
  to!: Date;

  @Field(() => String)
  granularity!: string;

  @Field(() => [UsageSeries])
  series!: UsageSeries[];
}

@ObjectType('MeterCost')
export class MeterCostType {
  @Field(() => String)
  meter!: string;

  @Field(() => SafeIntResolver)
  quantity!: number;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  costMicros!: bigint | null;
}

@ObjectType()
export class CostSlice {
  @Field(() => String, { description: 'Model, API key id, tag value or day (YYYY-MM-DD).' })
  key!: string;

  @Field(() => [MeterCostType])
  meters!: MeterCostType[];

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  costMicros!: bigint | null;

  @Authorized(...PLATFORM)
  @Field(() => MicrosScalar, { nullable: true, description: 'Provider-side compute cost (platform).' })
  providerCostMicros!: bigint | null;
}

@ObjectType()
export class CostAttribution {
  @Field(() => DateTimeResolver)
  from!: Date;

  @Field(() => DateTimeResolver)
  to!: Date;

  @Field(() => String)
  groupBy!: string;

  @Field(() => String)
  currency!: string;

  @Field(() => ID, { nullable: true })
  planId!: string | null;

  @Field(() => [MeterCostType])
  meters!: MeterCostType[];

  @Field(() => [CostSlice])
  slices!: CostSlice[];

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true, description: 'Sum of slices = charge of the whole range.' })
  totalMicros!: bigint | null;

  @Authorized(...PLATFORM)
  @Field(() => MicrosScalar, { nullable: true, description: 'compute-ms × configured cost rate per device (platform).' })
  providerCostMicros!: bigint | null;

  @Authorized(...PLATFORM)
  @Field(() => MicrosScalar, { nullable: true, description: 'totalMicros − providerCostMicros (platform).' })
  marginMicros!: bigint | null;
}

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class SpanEvent {
  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'Nanoseconds since the epoch, as a string.' })
  timeUnixNano!: string;
}

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class Attribute {
  @Field(() => String)
  key!: string;

  @Field(() => String)
  value!: string;
}

@ObjectType()
export class Span {
  @Field(() => String)
  traceId!: string;

  @Field(() => String)
  spanId!: string;

  @Field(() => String)
  parentSpanId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  kind!: string;

  @Field(() => String)
  serviceName!: string;

  @Field(() => String, { description: 'Start, nanoseconds since the epoch, as a string.' })
  startTimeUnixNano!: string;

  @Field(() => SafeIntResolver, { description: 'Nanoseconds.' })
  durationNs!: number;

  @Field(() => String)
  statusCode!: string;

  @Field(() => String)
  statusMessage!: string;

  @Field(() => [Attribute])
  attributes!: Attribute[];

  @Field(() => [SpanEvent])
  events!: SpanEvent[];
}

@ObjectType()
export class Trace {
  @Field(() => String)
  traceId!: string;

  @Field(() => [Span])
  spans!: Span[];
}

@ObjectType('QuotaOverride')
export class QuotaOverrideType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  tenantId!: string;

  @Field(() => ID, { nullable: true })
  apiKeyId!: string | null;

  @Field(() => String)
  meter!: string;

  @Field(() => SafeIntResolver)
  limit!: number;

  @Field(() => Boolean, { nullable: true })
  hard!: boolean | null;

  @Field(() => String)
  reason!: string;

  @Field(() => DateTimeResolver)
  effectiveFrom!: Date;

  @Field(() => DateTimeResolver, { nullable: true })
  effectiveTo!: Date | null;
}

@ObjectType()
export class SetQuotaOverridePayload {
  @Field(() => QuotaOverrideType, { nullable: true, description: 'null when the override was cleared.' })
  override!: QuotaOverrideType | null;
}

@ObjectType({ description: "One tenant's charges, provider-side cost and margin over a range (platform)." })
export class TenantMargin {
  @Field(() => Tenant)
  tenant!: Tenant;

  @Field(() => ID, { nullable: true })
  planId!: string | null;

  @Field(() => String)
  currency!: string;

  @Field(() => [MeterCostType])
  meters!: MeterCostType[];

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  totalMicros!: bigint | null;

  @Authorized(...PLATFORM)
  @Field(() => MicrosScalar, { nullable: true })
  providerCostMicros!: bigint | null;

  @Authorized(...PLATFORM)
  @Field(() => MicrosScalar, { nullable: true })
  marginMicros!: bigint | null;
}

@ObjectType()
export class TenantMarginEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => TenantMargin)
  node!: TenantMargin;
}

@ObjectType()
export class TenantMarginConnection {
  @Field(() => DateTimeResolver)
  from!: Date;

  @Field(() => DateTimeResolver)
  to!: Date;

  @Field(() => [TenantMarginEdge])
  edges!: TenantMarginEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
