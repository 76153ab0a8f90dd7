import { Arg, Authorized, Ctx, ID, Mutation, Query, registerEnumType, Resolver } from 'type-graphql';
import { isUuid } from '../../../../src/db/index.js';
import { badInput, forbidden, notFound } from '../../../../src/shared/index.js';
import { ADMIN, isAllowed, MONEY } from '../../auth/checker.js';
import { actorOf, requirePrincipal, resolveTenant, scoped, type ApiContext } from '../../context.js';
import { alertExplanation, alertsPage, transitionAlert, withoutMoney, type AlertRow } from '../../../../src/alerts/index.js';
import { readScores } from '../../../../src/anomaly-scan/index.js';
import type { AnomalyMetric } from '../../../../src/anomalies/index.js';
import { checkRange, decodeCursor, encodeCursor, TimeRangeInput } from '../common.js';
import { PageSizeScalar } from '../scalars.js';
import { Alert, AlertConnection, AnomalyPoint, AnomalySeries } from '../types.js';

const STATUSES = ['open', 'acknowledged', 'resolved'];

export enum AnomalyMetricEnum {
  REQUESTS = 'requests',
  ERROR_RATIO = 'error_ratio',
  LATENCY_P95 = 'latency_p95',
  SPEND = 'spend',
  QUOTA_BURN = 'quota_burn',
}
registerEnumType(AnomalyMetricEnum, { name: 'AnomalyMetric', description: 'A metric the anomaly detector judges (hourly).' });

/** Hourly buckets: 93 days is ~2,200 points. */
const ANOMALY_MAX_SPAN_MS = 93 * 24 * 3_600_000;

function canSeeMoney(ctx: ApiContext): boolean {
  return isAllowed(requirePrincipal(ctx), MONEY);
}

function toAlert(ctx: ApiContext, row: AlertRow): Alert {
  const r = canSeeMoney(ctx) ? row : withoutMoney(row);
  const d = r.details as { model?: unknown } | null;
  const model = r.kind === 'anomaly' && typeof d?.model === 'string' && d.model !== '' ? d.model : null;
  return Object.assign(new Alert(), { ...r, explanation: alertExplanation(r), model, detailsJson: JSON.stringify(r.details ?? {}) });
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
    const edges = page.map((r) => ({ cursor: encodeCursor([r.cursorTs, r.id]), node: toAlert(ctx, r) }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @Authorized()
  @Query(() => AnomalySeries, {
    description:
      "An anomaly series as the detector scored it: each hour's value and expected band in [range.from, range.to) (at most 93 days), for the tenant (model null) or one of its busiest models. spend is money: admin, finance and platform only.",
  })
  async anomalySeries(
    @Arg('metric', () => AnomalyMetricEnum) metric: AnomalyMetricEnum,
    @Arg('model', () => String, { nullable: true }) model: string | null,
    @Arg('range', () => TimeRangeInput) range: TimeRangeInput,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<AnomalySeries> {
    const { from, to } = checkRange(range, ANOMALY_MAX_SPAN_MS, 'anomalySeries');
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    if (metric === AnomalyMetricEnum.SPEND && !canSeeMoney(ctx)) throw forbidden(`requires one of: ${MONEY.join(', ')}`);
    const wanted = model ?? '';
    if (wanted.length > 128) throw badInput('model: at most 128 characters');
    const points = await readScores(ctx.services.clickhouse, { tenantId, metric: metric as AnomalyMetric, model: wanted, from, to, limit: 2_300 });
    return Object.assign(new AnomalySeries(), { metric, model: wanted || null, points: points.map((p) => Object.assign(new AnomalyPoint(), p)) });
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
    return toAlert(ctx, await scoped(ctx, (c) => transitionAlert(c, { tenantId, id, to, actor })));
  }
}
