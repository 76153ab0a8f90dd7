import { Arg, Authorized, Ctx, ID, Query, Resolver } from 'type-graphql';
import { notFound } from '../../../../src/shared/index.js';
import { resolveTenant, type ApiContext } from '../../context.js';
import { traceIdOfRequest, traceSpans, type SpanRow } from '../../data/clickhouse.js';
import { checkRange, TimeRangeInput } from '../common.js';
import { Span, Trace } from '../types.js';

const DAY = 86_400_000;
const MAX_LOOKBACK = 31 * DAY;
/** requestTrace scans the tenant's raw usage events (request ids are not in the table's key): a week at most (issue 17.8). */
const REQUEST_LOOKBACK = 7 * DAY;
const TRACE_ID = /^[0-9a-f]{32}$/;

function window(range: TimeRangeInput | null, max = MAX_LOOKBACK): { from: Date; to: Date } {
  if (range) return checkRange(range, max, 'trace lookup');
  const to = new Date(Date.now() + 60_000);
  return { from: new Date(to.getTime() - 7 * DAY), to };
}

function toSpan(r: SpanRow): Span {
  return Object.assign(new Span(), {
    traceId: r.TraceId,
    spanId: r.SpanId,
    parentSpanId: r.ParentSpanId,
    name: r.SpanName,
    kind: r.SpanKind,
    serviceName: r.ServiceName,
    startTimeUnixNano: r.TimestampNs,
    durationNs: r.Duration,
    statusCode: r.StatusCode,
    statusMessage: r.StatusMessage,
    attributes: r.SpanAttributesKeys.map((key, i) => ({ key, value: r.SpanAttributesValues[i] ?? '' })),
    events: r['Events.Name'].map((name, i) => ({ name, timeUnixNano: r['Events.Timestamp'][i] ?? '0' })),
  });
}

async function load(ctx: ApiContext, tenantId: string, traceId: string, range: { from: Date; to: Date }): Promise<Trace> {
  const spans = await traceSpans(ctx.services.clickhouse, { tenantId, traceId, ...range });
  // Another tenant's trace and a trace that does not exist look the same.
  if (spans.length === 0) throw notFound('trace not found');
  return { traceId, spans: spans.map(toSpan) };
}

@Resolver()
export class TraceResolver {
  @Authorized()
  @Query(() => Trace, { description: 'All spans of one trace of your tenant (default: traces from the last 7 days; range at most 31 days).' })
  async trace(
    @Arg('id', () => String) id: string,
    @Arg('range', () => TimeRangeInput, { nullable: true }) range: TimeRangeInput | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<Trace> {
    const w = window(range);
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const traceId = id.toLowerCase();
    if (!TRACE_ID.test(traceId)) throw notFound('trace not found');
    return load(ctx, tenantId, traceId, w);
  }

  @Authorized()
  @Query(() => Trace, { description: 'The trace of one inference request, by its request id (default and at most: requests from the last 7 days).' })
  async requestTrace(
    @Arg('requestId', () => String) requestId: string,
    @Arg('range', () => TimeRangeInput, { nullable: true }) range: TimeRangeInput | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<Trace> {
    const w = window(range, REQUEST_LOOKBACK);
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    if (requestId.length === 0 || requestId.length > 256) throw notFound('request not found');
    const traceId = await traceIdOfRequest(ctx.services.clickhouse, { tenantId, requestId, ...w });
    if (!traceId) throw notFound('request not found');
    // Spans may start slightly before the usage event's second and end after the window.
    return load(ctx, tenantId, traceId.toLowerCase(), { from: new Date(w.from.getTime() - DAY), to: new Date(w.to.getTime() + DAY) });
  }
}
