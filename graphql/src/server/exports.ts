/**
 * Finance exports on the API role: streaming CSV (RFC 4180, `\n` line ends, every text cell
 * quoted and formula-neutralised by src/shared/csv.ts), behind the same gate as /graphql.
 *
 *   GET /exports/usage.csv?from=<ISO>&to=<ISO>[&tenantId=<id>]
 *
 * Columns: USAGE_EXPORT_COLUMNS (src/usage/export.ts), a stable contract — new columns are
 * only ever appended. Rows are streamed from ClickHouse as they arrive, so a million rows pass
 * in bounded memory. Who: admin and finance for their own tenant, platform for one tenant
 * (`tenantId`) or all. At most one export per tenant runs at a time in a process (429 otherwise):
 * an export reads a tenant's raw history, the heaviest read there is.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ClickHouseError, type ClickHouse } from '../../../src/clickhouse/index.js';
import { isUuid } from '../../../src/db/index.js';
import { csvRow } from '../../../src/shared/index.js';
import { streamUsageEvents, USAGE_EXPORT_COLUMNS, type UsageExportRow } from '../../../src/usage/index.js';
import type { Principal } from '../auth/principal.js';
import { MONEY } from '../auth/checker.js';

export interface ExportRouteDeps {
  /** The API's request gate: the principal (or null without credentials); throws errors carrying their HTTP status. */
  admit(request: FastifyRequest, reply: FastifyReply): Promise<Principal | null>;
  clickhouse: ClickHouse;
  logger: Logger;
}

/** Longest range one export may cover. */
export const EXPORT_MAX_SPAN_MS = 366 * 86_400_000;
/** Bytes gathered before a write: fewer, larger chunks than one per row. */
const CHUNK_BYTES = 64 * 1024;
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

class ExportError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function instant(query: Record<string, unknown>, name: string): number {
  const v = query[name];
  if (typeof v !== 'string' || !ISO_WITH_ZONE.test(v) || Number.isNaN(Date.parse(v))) {
    throw new ExportError(400, 'BAD_USER_INPUT', `query parameter ${name} must be an ISO-8601 date-time with a time zone (e.g. 2026-11-01T00:00:00Z)`);
  }
  return Date.parse(v);
}

/** The tenant an export covers: the caller's own, or for platform the `tenantId` asked for (null = all). */
function tenantScope(principal: Principal, query: Record<string, unknown>): string | null {
  const asked = query.tenantId;
  if (principal.role === 'platform') {
    if (asked === undefined) return null;
    if (typeof asked !== 'string' || !isUuid(asked)) throw new ExportError(400, 'BAD_USER_INPUT', 'tenantId must be a tenant id (UUID)');
    return asked;
  }
  if (asked !== undefined && asked !== principal.tenantId) throw new ExportError(404, 'NOT_FOUND', 'tenant not found');
  if (!principal.tenantId) throw new ExportError(403, 'FORBIDDEN', 'no tenant');
  return principal.tenantId;
}

async function* csvChunks(header: readonly string[], rows: AsyncIterable<UsageExportRow>): AsyncGenerator<string, void, undefined> {
  let buf = csvRow(header);
  for await (const row of rows) {
    buf += csvRow(row);
    if (buf.length >= CHUNK_BYTES) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

export function registerExportRoutes(app: FastifyInstance, deps: ExportRouteDeps): void {
  const running = new Set<string>();

  app.get('/exports/usage.csv', async (request, reply) => {
    const requestId = String(request.id);
    let slot: string | undefined;
    try {
      const principal = await deps.admit(request, reply);
      if (!principal) throw new ExportError(401, 'UNAUTHENTICATED', 'credentials required: Authorization: Bearer <API key or JWT>');
      if (!(MONEY as readonly string[]).includes(principal.role)) throw new ExportError(403, 'FORBIDDEN', 'exports are for admin, finance and platform');
      const query = request.query as Record<string, unknown>;
      const from = instant(query, 'from');
      const to = instant(query, 'to');
      if (!(to > from)) throw new ExportError(400, 'BAD_USER_INPUT', 'to must be after from');
      if (to - from > EXPORT_MAX_SPAN_MS) throw new ExportError(400, 'BAD_USER_INPUT', `the range spans more than ${EXPORT_MAX_SPAN_MS / 86_400_000} days`);
      const tenantId = tenantScope(principal, query);
      slot = tenantId ?? '*';
      if (running.has(slot)) {
        slot = undefined;
        reply.header('retry-after', '5');
        throw new ExportError(429, 'RATE_LIMITED', 'an export for this tenant is already running');
      }
      running.add(slot);
      const held = slot;
      const chunks = csvChunks(USAGE_EXPORT_COLUMNS, streamUsageEvents(deps.clickhouse, { tenantId, from, to }));
      // The first chunk before the status line: a store that is down still gets a proper 503.
      const first = await chunks.next();
      const body = Readable.from(
        (async function* () {
          if (!first.done) yield first.value;
          yield* chunks;
        })(),
        { objectMode: false },
      );
      body.on('close', () => running.delete(held));
      body.on('error', (err) => deps.logger.error({ err, requestId }, 'usage export failed mid-stream; the response was cut off'));
      slot = undefined; // released by the stream from here on
      const name = `usage-${new Date(from).toISOString().slice(0, 10)}-${new Date(to).toISOString().slice(0, 10)}.csv`;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .header('cache-control', 'no-store')
        .send(body);
    } catch (err) {
      if (slot) running.delete(slot);
      const storeDown = err instanceof ClickHouseError;
      const status = err instanceof ExportError ? err.status : storeDown ? 503 : ((err as { extensions?: { http?: { status?: number } } }).extensions?.http?.status ?? 500);
      const code = err instanceof ExportError ? err.code : storeDown ? 'UNAVAILABLE' : String((err as { extensions?: { code?: unknown } }).extensions?.code ?? 'INTERNAL_SERVER_ERROR');
      if (storeDown) deps.logger.error({ err, requestId }, 'usage export: ClickHouse failed');
      const message = status === 500 ? 'internal error' : storeDown ? 'usage store unavailable; retry later' : (err as Error).message;
      if (status === 500) deps.logger.error({ err, requestId }, 'usage export failed');
      return reply.code(status).header('content-type', 'application/json').send({ error: { code, message, requestId } });
    }
  });
}
