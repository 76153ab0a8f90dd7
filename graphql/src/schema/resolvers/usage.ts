import { Arg, Authorized, Ctx, FieldResolver, ID, Query, registerEnumType, Resolver, Root } from 'type-graphql';
import { badInput, csvRow } from '../../../../src/shared/index.js';
import type { ApiContext } from '../../context.js';
import { resolveTenant, scoped } from '../../context.js';
import { latencySeries, MAX_SPAN_MS, usageSeries } from '../../data/clickhouse.js';
import { checkRange, decodeCursor, encodeCursor, TimeRangeInput } from '../common.js';
import { ApiKey, UsageColumns, UsageLatency, UsagePoint, UsageReport, UsageSeries, CostAttribution, TenantMarginConnection, type LatencyPoint } from '../types.js';
import { toApiKey } from './mappers.js';
import { attributeCosts, COST_MAX_SPAN_MS, tenantMargins } from './cost.js';
import { MONEY, PLATFORM } from '../../auth/checker.js';
import { tenantsByIds, tenantsPage } from '../../data/pg.js';
import { isUuid } from '../../../../src/db/index.js';
import { PageSizeScalar } from '../scalars.js';

export enum GranularityEnum {
  MINUTE = 'MINUTE',
  HOUR = 'HOUR',
  DAY = 'DAY',
}
registerEnumType(GranularityEnum, { name: 'Granularity' });

export enum UsageGroupByEnum {
  MODEL = 'MODEL',
  API_KEY = 'API_KEY',
  TAG = 'TAG',
}
registerEnumType(UsageGroupByEnum, { name: 'UsageGroupBy' });

export enum CostGroupByEnum {
  MODEL = 'MODEL',
  API_KEY = 'API_KEY',
  TAG = 'TAG',
  DAY = 'DAY',
}
registerEnumType(CostGroupByEnum, { name: 'CostGroupBy' });

const TAG_KEY = /^[A-Za-z0-9_.:/-]{1,128}$/;

function checkTagKey(groupBy: string | null | undefined, tagKey: string | null | undefined): string | null {
  if (groupBy !== 'TAG') return null;
  if (!tagKey || !TAG_KEY.test(tagKey)) throw badInput('groupBy TAG needs tagKey (letters, digits, _ . : / -, at most 128)');
  return tagKey;
}

/** Runs `fn` the first time it is called; later calls share its promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

async function latencyByKey(
  ctx: ApiContext,
  q: { tenantId: string; from: Date; to: Date; granularity: GranularityEnum; groupBy: UsageGroupByEnum.MODEL | UsageGroupByEnum.API_KEY | null },
): Promise<Map<string, LatencyPoint[]>> {
  const byKey = new Map<string, LatencyPoint[]>();
  for (const r of await latencySeries(ctx.services.clickhouse, q)) {
    let list = byKey.get(r.key);
    if (!list) byKey.set(r.key, (list = []));
    list.push({ bucket: new Date(r.b * 1000), p50Ms: r.p50 / 1000, p95Ms: r.p95 / 1000, p99Ms: r.p99 / 1000, maxMs: r.max / 1000 });
  }
  return byKey;
}

@Resolver(() => UsageSeries)
export class UsageResolver {
  @Authorized()
  @Query(() => UsageReport, {
    description:
      'Usage time series from the rollups: buckets starting in [from, to). Max span: MINUTE 24 h, HOUR 31 days, DAY 400 days. groupBy TAG needs tagKey and HOUR or DAY.',
  })
  async usage(
    @Arg('range', () => TimeRangeInput) range: TimeRangeInput,
    @Arg('granularity', () => GranularityEnum) granularity: GranularityEnum,
    @Arg('groupBy', () => UsageGroupByEnum, { nullable: true }) groupBy: UsageGroupByEnum | null,
    @Arg('tagKey', () => String, { nullable: true }) tagKey: string | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<UsageReport> {
    const { from, to } = checkRange(range, MAX_SPAN_MS[granularity], `usage at ${granularity}`);
    const tag = checkTagKey(groupBy, tagKey);
    if (groupBy === UsageGroupByEnum.TAG && granularity === GranularityEnum.MINUTE) throw badInput('groupBy TAG is available at HOUR or DAY granularity');
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const rows = await usageSeries(ctx.services.clickhouse, { tenantId, from, to, granularity, groupBy: groupBy ?? null, tagKey: tag });
    const latencyRows = groupBy === UsageGroupByEnum.TAG ? null : once(() => latencyByKey(ctx, { tenantId, from, to, granularity, groupBy: groupBy ?? null }));
    const series = new Map<string, UsageSeries>();
    for (const r of rows) {
      let s = series.get(r.key);
      if (!s) {
        s = Object.assign(new UsageSeries(), { key: r.key, points: [], apiKeyId: groupBy === UsageGroupByEnum.API_KEY ? r.key : null, tenantId, latencyRows });
        series.set(r.key, s);
      }
      s.points.push(
        Object.assign(new UsagePoint(), {
          bucket: new Date(r.b * 1000),
          requests: Number(r.requests),
          errorRequests: Number(r.error_requests),
          items: Number(r.items),
          servedItems: Number(r.ok_items),
          attemptedItems: Number(r.items),
          inputBytes: Number(r.input_bytes),
          outputBytes: Number(r.output_bytes),
          computeUs: Number(r.compute_us),
        }),
      );
    }
    return { from, to, granularity, series: [...series.values()] };
  }

  @FieldResolver(() => UsageColumns, { description: 'The same points as parallel arrays.' })
  columns(@Root() s: UsageSeries): UsageColumns {
    const p = s.points;
    return {
      buckets: p.map((x) => x.bucket),
      requests: p.map((x) => x.requests),
      errorRequests: p.map((x) => x.errorRequests),
      items: p.map((x) => x.items),
      servedItems: p.map((x) => x.servedItems),
      attemptedItems: p.map((x) => x.attemptedItems),
      inputBytes: p.map((x) => x.inputBytes),
      outputBytes: p.map((x) => x.outputBytes),
      computeUs: p.map((x) => x.computeUs),
    };
  }

  @FieldResolver(() => UsageLatency, {
    nullable: true,
    description: 'Latency quantiles of this series (one ClickHouse read for all series of the report); null when grouped by TAG (latency is not kept per tag).',
  })
  async latency(@Root() s: UsageSeries): Promise<UsageLatency | null> {
    if (!s.latencyRows) return null;
    const points = (await s.latencyRows()).get(s.key) ?? [];
    return {
      buckets: points.map((p) => p.bucket),
      p50Ms: points.map((p) => p.p50Ms),
      p95Ms: points.map((p) => p.p95Ms),
      p99Ms: points.map((p) => p.p99Ms),
      maxMs: points.map((p) => p.maxMs),
    };
  }

  @FieldResolver(() => ApiKey, { nullable: true, description: 'The API key of this series (groupBy API_KEY).' })
  async apiKey(@Root() s: UsageSeries, @Ctx() ctx: ApiContext): Promise<ApiKey | null> {
    if (!s.apiKeyId) return null;
    const row = await ctx.loaders.apiKey.load(s.apiKeyId);
    return row && row.tenantId === s.tenantId ? toApiKey(row) : null;
  }

  @Authorized(...MONEY)
  @Query(() => String, {
    description:
      'Finance export: costAttribution as CSV (slice,meter,quantity,cost_micros; a final TOTAL row per meter). Same arguments and rules as costAttribution; admin, finance, platform.',
  })
  async costExportCsv(
    @Arg('range', () => TimeRangeInput) range: TimeRangeInput,
    @Arg('groupBy', () => CostGroupByEnum) groupBy: CostGroupByEnum,
    @Arg('tagKey', () => String, { nullable: true }) tagKey: string | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<string> {
    const c = await this.costAttribution(range, groupBy, tagKey, tenantIdArg, ctx);
    let csv = csvRow(['slice', 'meter', 'quantity', 'cost_micros']);
    for (const s of c.slices) for (const m of s.meters) csv += csvRow([s.key, m.meter, m.quantity, m.costMicros ?? 0n]);
    for (const m of c.meters) csv += csvRow(['TOTAL', m.meter, m.quantity, m.costMicros ?? 0n]);
    return csv;
  }

  @Authorized(...PLATFORM)
  @Query(() => TenantMarginConnection, {
    description: 'Per tenant (by name): charges under its plan, provider-side compute cost and margin over the range (platform; same rules as costAttribution).',
  })
  async tenantMargins(
    @Arg('range', () => TimeRangeInput) range: TimeRangeInput,
    @Arg('first', () => PageSizeScalar) first: number,
    @Arg('after', () => String, { nullable: true }) afterCursor: string | null,
    @Arg('tenantIds', () => [ID], { nullable: true, description: 'Only these tenants (at most `first`), instead of paging through all.' }) tenantIds: string[] | null,
    @Ctx() ctx: ApiContext,
  ): Promise<TenantMarginConnection> {
    const hour = 3_600_000;
    const floored = { from: new Date(Math.floor(range.from.getTime() / hour) * hour), to: new Date(Math.floor(range.to.getTime() / hour) * hour) };
    const { from, to } = checkRange(floored, COST_MAX_SPAN_MS, 'tenantMargins');
    if (tenantIds && tenantIds.length > first) throw badInput('tenantIds: at most `first` ids');
    const after = decodeCursor(afterCursor, 1);
    const rows = tenantIds
      ? (await scoped(ctx, (c) => tenantsByIds(c, tenantIds.filter(isUuid)))).sort((a, b) => (a.name < b.name ? -1 : 1))
      : await scoped(ctx, (c) => tenantsPage(c, { limit: first, afterName: after ? String(after[0]) : null, status: null }));
    const page = rows.slice(0, first);
    const margins = await tenantMargins(ctx, { tenants: page, from, to });
    const edges = margins.map((m) => ({ cursor: encodeCursor([m.tenant.name]), node: m }));
    return { from, to, edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @Authorized()
  @Query(() => CostAttribution, {
    description:
      "What each slice of usage costs under the tenant's price components: each meter is priced on the range's total (tiers apply as on the invoice), then split across slices in proportion to usage, so slices add up exactly to the total. Hour buckets starting in [from, to) (from and to are floored to the hour); at most 93 days. Money fields need admin, finance or platform; provider cost and margin need platform.",
  })
  async costAttribution(
    @Arg('range', () => TimeRangeInput) range: TimeRangeInput,
    @Arg('groupBy', () => CostGroupByEnum) groupBy: CostGroupByEnum,
    @Arg('tagKey', () => String, { nullable: true }) tagKey: string | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<CostAttribution> {
    const hour = 3_600_000;
    const floored = { from: new Date(Math.floor(range.from.getTime() / hour) * hour), to: new Date(Math.floor(range.to.getTime() / hour) * hour) };
    const { from, to } = checkRange(floored, COST_MAX_SPAN_MS, 'costAttribution');
    const tag = checkTagKey(groupBy, tagKey);
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    return attributeCosts(ctx, { tenantId, from, to, groupBy, tagKey: tag });
  }
}
