/** Object types: quota status and overrides. Guarded fields are nullable so a denial nulls only that field. */
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { BillingPeriod } from './tenant.js';

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
