import { Arg, Authorized, Ctx, ID, InputType, Field, Mutation, Query, Resolver } from 'type-graphql';
import { SafeIntResolver } from 'graphql-scalars';
import { setQuotaOverride, overrideKinds, type OverrideKind } from '../../../../src/plans/index.js';
import { isUuid } from '../../../../src/db/index.js';
import { badInput, notFound } from '../../../../src/shared/index.js';
import { PLATFORM } from '../../auth/checker.js';
import { actorOf, resolveTenant, type ApiContext } from '../../context.js';
import { limitsAnnouncer } from '../../quotas.js';
import { MeterQuota, QuotaOverrideType, QuotaStatusType, SetQuotaOverridePayload } from '../types.js';

@InputType()
class SetQuotaOverrideInput {
  @Field(() => ID)
  tenantId!: string;

  @Field(() => ID, { nullable: true, description: 'Override for one API key of the tenant; omitted = tenant-wide.' })
  apiKeyId?: string | null;

  @Field(() => String, { description: `One of: ${overrideKinds.join(', ')}` })
  meter!: string;

  @Field(() => SafeIntResolver, { nullable: true, description: 'New limit; null clears the override.' })
  limit?: number | null;

  @Field(() => Boolean, { nullable: true })
  hard?: boolean | null;

  @Field(() => String, { defaultValue: '' })
  reason!: string;
}

@Resolver()
export class QuotaResolver {
  @Authorized()
  @Query(() => QuotaStatusType, { description: 'Each quota with limit, used, remaining and reset time, plus the rate limits.' })
  async quotas(@Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<QuotaStatusType> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const p = ctx.principal!;
    // An API key also sees its own caps (scope API_KEY rows), if it has any.
    const status = await ctx.services.quotaStatus(p.kind === 'api_key' && p.tenantId === tenantId ? { tenantId, apiKeyId: p.id } : { tenantId });
    return {
      period: status.period,
      meters: status.meters.map((m) =>
        Object.assign(new MeterQuota(), {
          meter: m.meter,
          scope: m.scope === 'api_key' ? 'API_KEY' : 'TENANT',
          apiKeyId: m.apiKeyId ?? null,
          limit: m.limit,
          used: m.used,
          remaining: m.remaining,
          hard: m.hard,
          resetAt: m.resetAt,
        }),
      ),
      rate: { limitPerSecond: status.rate.limitPerSecond, burst: status.rate.burst, maxConcurrency: status.rate.maxConcurrency, remaining: status.rate.remaining ?? null, inFlight: status.rate.inFlight ?? null },
    };
  }

  @Authorized(...PLATFORM)
  @Mutation(() => SetQuotaOverridePayload, { description: 'Sets or clears a quota / admission-limit override (platform). Audited.' })
  async setQuotaOverride(@Arg('input', () => SetQuotaOverrideInput) input: SetQuotaOverrideInput, @Ctx() ctx: ApiContext): Promise<SetQuotaOverridePayload> {
    if (!(overrideKinds as readonly string[]).includes(input.meter)) throw badInput(`meter must be one of ${overrideKinds.join(', ')}`);
    const tenantId = await resolveTenant(ctx, input.tenantId);
    if (input.apiKeyId) {
      const key = isUuid(input.apiKeyId) ? await ctx.loaders.apiKey.load(input.apiKeyId) : null;
      if (!key || key.tenantId !== tenantId) throw notFound('API key not found');
    }
    const o = await setQuotaOverride({ ...ctx.services, announceLimits: limitsAnnouncer(ctx) }, {
      tenantId,
      apiKeyId: input.apiKeyId ?? null,
      meter: input.meter as OverrideKind,
      limit: input.limit ?? null,
      hard: input.hard ?? null,
      reason: input.reason,
      actor: actorOf(ctx),
    });
    return { override: o ? Object.assign(new QuotaOverrideType(), o) : null };
  }
}
