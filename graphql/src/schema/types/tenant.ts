/** Object types: people, tenants, plans and prices. Guarded fields are nullable so a denial nulls only that field. */
import { Authorized, Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { EMAIL, PLATFORM } from '../../auth/checker.js';
import { DecimalMicrosScalar } from '../scalars.js';
import { PageInfo, RoleEnum } from '../common.js';

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

  @Field(() => String, { description: 'active | past_due (a payment failed; still served) | suspended' })
  status!: string;

  @Field(() => String, { nullable: true, description: 'Why the tenant is suspended: operator | dunning (unpaid past the plan\'s dunning days; lifted by payment). Null unless suspended.' })
  suspensionReason!: string | null;

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
