/** Object types: usage series, cost attribution and margins. Guarded fields are nullable so a denial nulls only that field. */
import { Authorized, Field, Float, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { MONEY, PLATFORM } from '../../auth/checker.js';
import { MicrosScalar } from '../scalars.js';
import { PageInfo } from '../common.js';
import { Tenant } from './tenant.js';

// What each count means; points and columns share the words.
const REQUESTS = 'Inference requests, failed and refused ones included (requests − errorRequests were served).';
const ERROR_REQUESTS = 'Requests that were not served: bad input, refused by quotas or rate limits, timed out, failed.';
const SERVED_ITEMS = 'Items (batch rows) of served requests: what quotas and billing count.';
const ATTEMPTED_ITEMS = 'Items of every request, failed and refused ones included.';
const ITEMS = 'Items of every request, failed and refused ones included (the same as attemptedItems).';
const ITEMS_DEPRECATED = 'Counts the items of failed and refused requests too, unlike quotas and billing: use servedItems (billed) or attemptedItems (this value).';

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class UsagePoint {
  @Field(() => DateTimeResolver)
  bucket!: Date;

  @Field(() => SafeIntResolver, { description: REQUESTS })
  requests!: number;

  @Field(() => SafeIntResolver, { description: ERROR_REQUESTS })
  errorRequests!: number;

  @Field(() => SafeIntResolver, { description: ITEMS, deprecationReason: ITEMS_DEPRECATED })
  items!: number;

  @Field(() => SafeIntResolver, { description: SERVED_ITEMS })
  servedItems!: number;

  @Field(() => SafeIntResolver, { description: ATTEMPTED_ITEMS })
  attemptedItems!: number;

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

  @Field(() => [SafeIntResolver], { description: REQUESTS })
  requests!: number[];

  @Field(() => [SafeIntResolver], { description: ERROR_REQUESTS })
  errorRequests!: number[];

  @Field(() => [SafeIntResolver], { description: ITEMS, deprecationReason: ITEMS_DEPRECATED })
  items!: number[];

  @Field(() => [SafeIntResolver], { description: SERVED_ITEMS })
  servedItems!: number[];

  @Field(() => [SafeIntResolver], { description: ATTEMPTED_ITEMS })
  attemptedItems!: number[];

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
  /** The report's latency rows by group key, read once for all series when a `latency` field asks (null: grouped by TAG). */
  latencyRows!: (() => Promise<Map<string, LatencyPoint[]>>) | null;
}

/** One bucket of UsageLatency, milliseconds. */
export interface LatencyPoint {
  bucket: Date;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

// No guarded fields: plain property reads.
@ObjectType({
  simpleResolvers: true,
  description: 'Latency of served requests (queue + compute time) per bucket as parallel arrays, milliseconds, from the t-digest latency rollups. Buckets without a served request are left out.',
})
export class UsageLatency {
  @Field(() => [DateTimeResolver])
  buckets!: Date[];

  @Field(() => [Float])
  p50Ms!: number[];

  @Field(() => [Float])
  p95Ms!: number[];

  @Field(() => [Float])
  p99Ms!: number[];

  @Field(() => [Float])
  maxMs!: number[];
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
