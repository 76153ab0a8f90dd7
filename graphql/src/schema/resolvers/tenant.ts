import { Arg, Args, ArgsType, Authorized, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { createTenant, setTenantPlan } from '../../../../src/tenants/index.js';
import { recordAudit, auditFrom } from '../../../../src/audit/index.js';
import { withPlatform } from '../../../../src/db/index.js';
import { billingPeriod } from '../../../../src/quotas/index.js';
import { limitsAnnouncer } from '../../quotas.js';
import { notFound } from '../../../../src/shared/index.js';
import { PLATFORM } from '../../auth/checker.js';
import { actorOf, resolveTenant, type ApiContext, scoped } from '../../context.js';
import { tenantsPage } from '../../data/pg.js';
import { decodeCursor, encodeCursor } from '../common.js';
import { PageSizeScalar } from '../scalars.js';
import { BillingPeriod, Plan, Tenant, TenantConnection } from '../types.js';
import { toPlan, toTenant } from './mappers.js';

@ArgsType()
class TenantsArgs {
  @Field(() => PageSizeScalar)
  first!: number;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => String, { nullable: true, description: 'active | past_due | suspended' })
  status?: string | null;
}

@InputType()
class CreateTenantInput {
  @Field(() => String, { description: 'Unique slug: lower-case letters, digits, - and _.' })
  name!: string;

  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => String, { description: 'Plan code, e.g. free, starter, pro, enterprise.' })
  plan!: string;

  @Field(() => String, { nullable: true, description: 'IANA time zone (default UTC).' })
  timezone?: string | null;

  @Field(() => Int, { nullable: true })
  billingAnchorDay?: number | null;

  @Field(() => String, { nullable: true })
  currency?: string | null;
}

@Resolver(() => Tenant)
export class TenantResolver {
  @Authorized()
  @Query(() => Tenant, { description: 'A tenant: your own (id omitted or equal to it); platform operators may name any.' })
  async tenant(@Arg('id', () => ID, { nullable: true }) id: string | null, @Ctx() ctx: ApiContext): Promise<Tenant> {
    const tenantId = await resolveTenant(ctx, id);
    const row = await ctx.loaders.tenant.load(tenantId);
    if (!row) throw notFound('tenant not found');
    return toTenant(row);
  }

  @Authorized(...PLATFORM)
  @Query(() => TenantConnection, { description: 'All tenants by name (platform).' })
  async tenants(@Args(() => TenantsArgs) args: TenantsArgs, @Ctx() ctx: ApiContext): Promise<TenantConnection> {
    const after = decodeCursor(args.after, 1);
    const rows = await scoped(ctx, (c) => tenantsPage(c, { limit: args.first, afterName: after ? String(after[0]) : null, status: args.status ?? null }));
    const page = rows.slice(0, args.first);
    // Prime the loader so nested fields of these tenants need no extra lookups.
    for (const r of page) ctx.loaders.tenant.prime(r.id, r);
    const edges = page.map((r) => ({ cursor: encodeCursor([r.name]), node: toTenant(r) }));
    return { edges, pageInfo: { hasNextPage: rows.length > args.first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @FieldResolver(() => Plan, { nullable: true, description: 'The plan in force now.' })
  async plan(@Root() tenant: Tenant, @Ctx() ctx: ApiContext): Promise<Plan | null> {
    const row = await ctx.loaders.plan.load(tenant.id);
    return row ? toPlan(row) : null;
  }

  @FieldResolver(() => BillingPeriod, { description: 'The current billing period (tenant time zone, anchor day).' })
  period(@Root() tenant: Tenant): BillingPeriod {
    const p = billingPeriod({ at: new Date(), anchorDay: tenant.billingAnchorDay, timeZone: tenant.timezone });
    return { start: p.start, end: p.end };
  }

  @Authorized(...PLATFORM)
  @FieldResolver(() => String, { nullable: true, description: 'Stripe customer id (platform).' })
  async stripeCustomerId(@Root() tenant: Tenant, @Ctx() ctx: ApiContext): Promise<string | null> {
    return ctx.loaders.stripeCustomer.load(tenant.id);
  }

  @Authorized(...PLATFORM)
  @Mutation(() => Tenant, { description: 'Creates a tenant on a plan (platform). Audited.' })
  async createTenant(@Arg('input', () => CreateTenantInput) input: CreateTenantInput, @Ctx() ctx: ApiContext): Promise<Tenant> {
    const t = await createTenant(ctx.services, {
      name: input.name,
      plan: input.plan,
      ...(input.displayName ? { displayName: input.displayName } : {}),
      ...(input.timezone ? { timezone: input.timezone } : {}),
      ...(input.billingAnchorDay ? { billingAnchorDay: input.billingAnchorDay } : {}),
      ...(input.currency ? { currency: input.currency } : {}),
      actor: actorOf(ctx),
    });
    return toTenant(t);
  }

  @Authorized(...PLATFORM)
  @Mutation(() => Tenant, { description: "Moves a tenant to another plan from now on (platform). Audited, also when it was already on that plan." })
  async setTenantPlan(@Arg('tenantId', () => ID) tenantId: string, @Arg('plan', () => String) plan: string, @Ctx() ctx: ApiContext): Promise<Tenant> {
    const id = await resolveTenant(ctx, tenantId);
    const actor = actorOf(ctx);
    const result = await setTenantPlan({ ...ctx.services, announceLimits: limitsAnnouncer(ctx) }, { tenantId: id, plan, actor });
    if (!result.changed) {
      // The domain function records real changes; a no-op request is still a mutation and is audited.
      await withPlatform(ctx.services.pools.app, (c) =>
        recordAudit(c, auditFrom(actor, { tenantId: id, action: 'tenant.plan_change.noop', targetType: 'tenant', targetId: id, before: { plan: result.from }, after: { plan: result.to } })),
      );
    }
    ctx.loaders.plan.clear(id);
    const row = await ctx.loaders.tenant.load(id);
    if (!row) throw notFound('tenant not found');
    return toTenant(row);
  }
}
