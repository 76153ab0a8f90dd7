import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { isUuid } from '../../../../src/db/index.js';
import { badInput, notFound } from '../../../../src/shared/index.js';
import { ADMIN } from '../../auth/checker.js';
import { actorOf, resolveTenant, scoped, type ApiContext } from '../../context.js';
import { alertsPage, transitionAlert, type AlertRow } from '../../../../src/alerts/index.js';
import { decodeCursor, encodeCursor } from '../common.js';
import { PageSizeScalar } from '../scalars.js';
import { Alert, AlertConnection } from '../types.js';

const STATUSES = ['open', 'acknowledged', 'resolved'];

function toAlert(r: AlertRow): Alert {
  return Object.assign(new Alert(), { ...r, detailsJson: JSON.stringify(r.details ?? {}) });
}

@Resolver(() => Alert)
export class AlertResolver {
  @Authorized()
  @Query(() => AlertConnection, { description: "The tenant's alerts, newest first, optionally by status (open | acknowledged | resolved)." })
  async alerts(
    @Arg('first', () => PageSizeScalar) first: number,
    @Arg('after', () => String, { nullable: true }) afterCursor: string | null,
    @Arg('status', () => String, { nullable: true }) status: string | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<AlertConnection> {
    // An omitted nullable argument arrives as undefined.
    const wanted = status ?? null;
    if (wanted !== null && !STATUSES.includes(wanted)) throw badInput(`status must be one of ${STATUSES.join(', ')}`);
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const after = decodeCursor(afterCursor, 2);
    if (after && !isUuid(after[1])) throw notFound('invalid cursor');
    const rows = await scoped(ctx, (c) => alertsPage(c, { tenantId, status: wanted, limit: first, after: after ? { openedAt: String(after[0]), id: String(after[1]) } : null }));
    const page = rows.slice(0, first);
    const edges = page.map((r) => ({ cursor: encodeCursor([r.cursorTs, r.id]), node: toAlert(r) }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @Authorized(...ADMIN)
  @Mutation(() => Alert, { description: 'Acknowledges an alert (admin, platform). Audited.' })
  async acknowledgeAlert(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<Alert> {
    return this.transition(ctx, id, tenantIdArg, 'acknowledged');
  }

  @Authorized(...ADMIN)
  @Mutation(() => Alert, { description: 'Resolves an alert (admin, platform). Audited.' })
  async resolveAlert(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<Alert> {
    return this.transition(ctx, id, tenantIdArg, 'resolved');
  }

  private async transition(ctx: ApiContext, id: string, tenantIdArg: string | null, to: 'acknowledged' | 'resolved'): Promise<Alert> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    if (!isUuid(id)) throw notFound('alert not found');
    const actor = actorOf(ctx);
    return toAlert(await scoped(ctx, (c) => transitionAlert(c, { tenantId, id, to, actor })));
  }
}
