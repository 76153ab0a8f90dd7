/**
 * Alias amplification (issue 17.8): graphql-armor counts aliases and field costs, but one alias
 * of `usage` at MINUTE granularity grouped by model reads ~30,000 rollup rows and fifteen of them
 * took another tenant's inference in the same process to seconds. Before an operation runs, this
 * plugin estimates the rows each report field reads from its arguments — time buckets × series —
 * and sums them over every field and alias of the operation:
 *   usage                           buckets(range, granularity) × series (× 2 with latency)
 *   costAttribution, costExportCsv  hours(range) × series (groupBy DAY: 1 series)
 *   anomalySeries                   hours(range)
 *   tenantMargins                   first × days(range)
 *   trace, requestTrace             days(window) × RAW_ROWS_PER_DAY (a raw-table scan)
 * `series` is GRAPHQL_SERIES_ESTIMATE for a grouped report, 1 otherwise. Over GRAPHQL_ROW_BUDGET
 * the operation is refused (400 BAD_USER_INPUT naming the estimate and the budget) without
 * running. An operation of GRAPHQL_HEAVY_ROWS or more is heavy: a tenant (a platform operator:
 * per operator) runs at most GRAPHQL_HEAVY_CONCURRENCY heavy operations at once in this process;
 * one more is 429 with Retry-After.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { FieldNode, FragmentDefinitionNode, GraphQLObjectType, GraphQLSchema, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import type { Config } from '../../../src/config/index.js';
import { getArgumentValues, Kind } from '../graphql-runtime.js';
import type { ApiContext } from '../context.js';
import { apiError } from './errors.js';

export type RowBudgetConfig = Pick<Config, 'GRAPHQL_ROW_BUDGET' | 'GRAPHQL_SERIES_ESTIMATE' | 'GRAPHQL_HEAVY_ROWS' | 'GRAPHQL_HEAVY_CONCURRENCY'>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BUCKET_MS: Record<string, number> = { MINUTE: 60_000, HOUR, DAY };
/** A raw-table scan (usage events, spans) is budgeted as this many rows per day of its window. */
export const RAW_ROWS_PER_DAY = 5_000;
/** trace / requestTrace without a range look back this far (their resolver's default). */
const DEFAULT_TRACE_WINDOW_MS = 7 * DAY;

type Args = Record<string, unknown>;

function ms(v: unknown): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string' || typeof v === 'number') {
    const t = new Date(v).getTime();
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

/** The range's span in ms (0 when absent or unreadable: the resolver refuses it anyway). */
function span(range: unknown): number {
  if (!range || typeof range !== 'object') return 0;
  const r = range as { from?: unknown; to?: unknown };
  const from = ms(r.from);
  const to = ms(r.to);
  return from !== null && to !== null && to > from ? to - from : 0;
}

function hasField(set: SelectionSetNode | undefined, name: string, fragments: Record<string, FragmentDefinitionNode>, depth = 0): boolean {
  if (!set || depth > 12) return false;
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD && (s.name.value === name || hasField(s.selectionSet, name, fragments, depth + 1))) return true;
    if (s.kind === Kind.INLINE_FRAGMENT && hasField(s.selectionSet, name, fragments, depth + 1)) return true;
    if (s.kind === Kind.FRAGMENT_SPREAD && hasField(fragments[s.name.value]?.selectionSet, name, fragments, depth + 1)) return true;
  }
  return false;
}

/** Estimated rows a root field reads, from its arguments. */
export function fieldRows(name: string, args: Args, node: FieldNode, fragments: Record<string, FragmentDefinitionNode>, seriesEstimate: number): number {
  const grouped = (g: unknown) => (g && g !== 'DAY' ? seriesEstimate : 1);
  switch (name) {
    case 'usage': {
      const bucket = BUCKET_MS[String(args.granularity)] ?? HOUR;
      const rows = Math.ceil(span(args.range) / bucket) * grouped(args.groupBy);
      return hasField(node.selectionSet, 'latency', fragments) ? rows * 2 : rows;
    }
    case 'costAttribution':
    case 'costExportCsv':
      return Math.ceil(span(args.range) / HOUR) * grouped(args.groupBy);
    case 'anomalySeries':
      return Math.ceil(span(args.range) / HOUR);
    case 'tenantMargins':
      return Number(args.first ?? 0) * Math.ceil(span(args.range) / DAY);
    case 'trace':
    case 'requestTrace':
      return Math.ceil((args.range ? span(args.range) : DEFAULT_TRACE_WINDOW_MS) / DAY) * RAW_ROWS_PER_DAY;
    default:
      return 0;
  }
}

/** The operation's estimated rows: every root field and alias, through fragments. */
export function operationRows(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: Record<string, FragmentDefinitionNode>, variables: Args, seriesEstimate: number): number {
  const root: GraphQLObjectType | null | undefined = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : null;
  if (!root) return 0;
  const fields = root.getFields();
  let total = 0;
  const walk = (set: SelectionSetNode, depth: number) => {
    if (depth > 12) return;
    for (const s of set.selections) {
      if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet, depth + 1);
      else if (s.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments[s.name.value];
        if (f) walk(f.selectionSet, depth + 1);
      } else if (s.kind === Kind.FIELD) {
        const def = fields[s.name.value];
        if (!def) continue;
        let args: Args;
        try {
          args = getArgumentValues(def, s, variables);
        } catch {
          continue; // bad arguments: validation and the resolver answer them
        }
        total += fieldRows(s.name.value, args, s, fragments, seriesEstimate);
      }
    }
  };
  walk(operation.selectionSet, 0);
  return total;
}

export function rowBudgetPlugin(config: RowBudgetConfig): ApolloServerPlugin<ApiContext> {
  const running = new Map<string, number>(); // principal bucket -> heavy operations in flight
  return {
    async requestDidStart() {
      let held: string | null = null;
      const release = () => {
        if (held === null) return;
        const n = (running.get(held) ?? 1) - 1;
        if (n <= 0) running.delete(held);
        else running.set(held, n);
        held = null;
      };
      return {
        async didResolveOperation({ schema, operation, document, request, contextValue }) {
          if (!operation) return;
          const fragments: Record<string, FragmentDefinitionNode> = {};
          for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
          const rows = operationRows(schema, operation, fragments, request.variables ?? {}, config.GRAPHQL_SERIES_ESTIMATE);
          if (rows > config.GRAPHQL_ROW_BUDGET) {
            throw apiError(
              'BAD_USER_INPUT',
              `this operation would read about ${rows} rows (time buckets × series, summed over its fields and aliases), more than the budget of ${config.GRAPHQL_ROW_BUDGET} per operation (GRAPHQL_ROW_BUDGET): use fewer aliases, a shorter range or a coarser granularity`,
              { status: 400 },
            );
          }
          if (rows < config.GRAPHQL_HEAVY_ROWS) return;
          const p = contextValue.principal;
          const bucket = p ? (p.tenantId && p.role !== 'platform' ? `t:${p.tenantId}` : `p:${p.id}`) : 'anonymous';
          const n = running.get(bucket) ?? 0;
          if (n >= config.GRAPHQL_HEAVY_CONCURRENCY) {
            throw apiError('RATE_LIMITED', `this tenant already runs ${n} heavy operations (about ${rows} rows each at most; GRAPHQL_HEAVY_CONCURRENCY=${config.GRAPHQL_HEAVY_CONCURRENCY}); retry when one finishes`, {
              status: 429,
              headers: { 'retry-after': '1' },
            });
          }
          running.set(bucket, n + 1);
          held = bucket;
        },
        async willSendResponse() {
          release();
        },
      };
    },
  };
}
