/** A traced one-shot query (no transaction) for reads that need no tenant scope, e.g. the plan catalog. */
import type pg from 'pg';
import { SpanStatusCode, trace } from '@opentelemetry/api';

const tracer = trace.getTracer('tollgate.db');

export function tracedQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: pg.Pool | pg.ClientBase,
  name: string,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  return tracer.startActiveSpan(`db.${name}`, { attributes: { 'db.system': 'postgresql', 'db.operation.name': name } }, async (span) => {
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
