/**
 * Platform usage import: backfills and corrections from a JSON Lines file, through the same
 * duplicate rule as inference usage — an id already stored for the tenant in `usage_events_v1`
 * (any time, decided by ClickHouse, never by Redis or by age) is a duplicate, not a second
 * charge. All or nothing at validation: if any line is bad, nothing is inserted.
 *
 * Line format (one JSON object a line; blank lines are skipped):
 *   {"id": "...", "ts": "<ISO-8601>", "model": "...", "items": n,
 *    "computeMs"?: n, "device"?: "cpu"|"cuda", "status"?: "ok"|"client_error"|"error"|"timeout"|"rejected",
 *    "tags"?: {"key": "value"}}
 *
 * Imports of one tenant are serialised by a Postgres advisory lock (two concurrent runs of the
 * same file insert each row once). A run killed after some chunks landed is finished by
 * running it again: the landed rows are then duplicates.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ClickHouse } from '../clickhouse/index.js';
import { withPlatform, isUuid, type PgPools } from '../db/index.js';
import { badInput } from '../shared/index.js';
import { usageRecordSchema, usageStatusSchema, deviceSchema, wellFormedText, type UsageRecord, type UsageStatus } from './contract.js';
import { existingInClickHouse, pairKey } from './dedup.js';
import { toUsageRow, USAGE_COLUMNS, USAGE_TABLE } from './rows.js';
import { importedTagsSchema } from './tags.js';

/** API key id recorded on imported rows (no key made them). */
export const IMPORT_API_KEY_ID = '00000000-0000-0000-0000-000000000000';
/** Rows per INSERT. */
const INSERT_CHUNK = 20_000;
/** Rows may not lie in the future beyond this clock skew. */
const MAX_FUTURE_MS = 5 * 60_000;

const HTTP_STATUS: Record<UsageStatus, number> = { ok: 200, client_error: 400, rejected: 429, timeout: 504, error: 500 };

const lineSchema = z
  .object({
    id: wellFormedText(1, 256),
    ts: z.string().datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone (e.g. 2026-11-03T14:00:00Z)' }),
    model: wellFormedText(1, 128),
    items: z.number().int().min(0).max(4_294_967_295),
    computeMs: z.number().finite().min(0).max(86_400_000).optional(),
    device: deviceSchema.default('cpu'),
    status: usageStatusSchema.default('ok'),
    tags: importedTagsSchema.default({}),
  })
  .strict();

export interface ImportRejection {
  /** 1-based line number in the file. */
  line: number;
  error: string;
}

export interface UsageImportResult {
  imported: number;
  duplicates: number;
  rejected: ImportRejection[];
}

export interface UsageImportDeps {
  clickhouse: ClickHouse;
  pools: PgPools;
}

export interface UsageImportInput {
  tenantId: string;
  /** The file's lines, in order. */
  lines: AsyncIterable<string> | Iterable<string>;
  /** Model names a row may carry (the served repository); anything else is rejected. */
  knownModels: ReadonlySet<string>;
  /** Stop collecting after this many bad lines (they are all reported up to it). */
  maxRejections?: number;
  now?: number;
}

interface Parsed {
  line: number;
  rec: UsageRecord;
  /** Canonical content, to tell an identical repeated line from a conflicting one. */
  content: string;
}

function messageOf(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).join('; ');
}

function toRecord(tenantId: string, v: z.infer<typeof lineSchema>): UsageRecord {
  const computeUs = Math.round((v.computeMs ?? 0) * 1000);
  return usageRecordSchema.parse({
    eventId: v.id,
    requestId: v.id,
    tenantId,
    apiKeyId: IMPORT_API_KEY_ID,
    model: v.model,
    modelVersion: '',
    ts: Date.parse(v.ts),
    status: v.status,
    httpStatus: HTTP_STATUS[v.status],
    items: v.items,
    inputBytes: 0,
    outputBytes: 0,
    queueUs: 0,
    computeUs,
    batchSize: v.items,
    billedComputeUs: computeUs,
    device: v.device,
    traceId: '',
    tags: v.tags,
  });
}

/** Imports the usage lines for one tenant: validates every line, then inserts the new ids. */
export async function importUsage(deps: UsageImportDeps, input: UsageImportInput): Promise<UsageImportResult> {
  if (!isUuid(input.tenantId)) throw badInput(`tenant id ${JSON.stringify(input.tenantId)} is not a UUID`);
  const now = input.now ?? Date.now();
  const maxRejections = input.maxRejections ?? 100;
  return withPlatform(deps.pools.app, async (c) => {
    // One import per tenant at a time, held to the end of this transaction.
    await c.query("SELECT pg_advisory_xact_lock(hashtextextended('tollgate.usage_import:' || $1, 0))", [input.tenantId]);
    const { rows } = await c.query<{ first: Date | null; exists: boolean }>(
      `SELECT (SELECT min(effective_from) FROM tenant_plans WHERE tenant_id = $1) AS first,
              EXISTS (SELECT 1 FROM tenants WHERE id = $1) AS exists`,
      [input.tenantId],
    );
    if (!rows[0]?.exists) throw badInput(`unknown tenant ${input.tenantId}`);
    const billingStart = rows[0].first ? rows[0].first.getTime() : Infinity;

    const rejected: ImportRejection[] = [];
    const byId = new Map<string, Parsed>();
    let duplicates = 0;
    let lineNo = 0;
    for await (const raw of input.lines) {
      lineNo++;
      if (rejected.length >= maxRejections) break;
      const text = raw.trim();
      if (text === '') continue;
      const reject = (error: string) => rejected.push({ line: lineNo, error });
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        reject('not a JSON object');
        continue;
      }
      const v = lineSchema.safeParse(json);
      if (!v.success) {
        reject(messageOf(v.error));
        continue;
      }
      const ts = Date.parse(v.data.ts);
      if (ts < billingStart) {
        reject(`ts ${v.data.ts} is before the tenant's first plan (${Number.isFinite(billingStart) ? new Date(billingStart).toISOString() : 'none'}); create the tenant with --billing-start to import history`);
        continue;
      }
      if (ts > now + MAX_FUTURE_MS) {
        reject(`ts ${v.data.ts} is in the future`);
        continue;
      }
      if (!input.knownModels.has(v.data.model)) {
        reject(`unknown model ${JSON.stringify(v.data.model)}`);
        continue;
      }
      const rec = toRecord(input.tenantId, v.data);
      const content = JSON.stringify(toUsageRow(rec, ''));
      const seen = byId.get(rec.eventId);
      if (seen) {
        if (seen.content === content) duplicates++;
        else reject(`id ${JSON.stringify(rec.eventId)} repeats line ${seen.line} with different content`);
        continue;
      }
      byId.set(rec.eventId, { line: lineNo, rec, content });
    }
    if (rejected.length > 0) return { imported: 0, duplicates: 0, rejected };

    const candidates = [...byId.values()].map((p) => ({ tenantId: p.rec.tenantId, eventId: p.rec.eventId, ts: p.rec.ts, uid: String(p.line) }));
    // Every id the tenant ever stored counts, whatever its age: from the epoch on.
    const existing = await existingInClickHouse(deps.clickhouse, candidates, Number.MAX_SAFE_INTEGER);
    const fresh = [...byId.values()].filter((p) => !existing.has(pairKey(p.rec.tenantId, p.rec.eventId)));
    duplicates += byId.size - fresh.length;
    for (let i = 0; i < fresh.length; i += INSERT_CHUNK) {
      const chunk = fresh.slice(i, i + INSERT_CHUNK);
      // Deterministic per content, so the batch id of a re-run names the same rows.
      const batchId = `import-${createHash('sha256').update(input.tenantId).update(chunk.map((p) => p.rec.eventId).join('\n')).digest('hex').slice(0, 32)}`;
      await deps.clickhouse.insert(USAGE_TABLE, chunk.map((p) => toUsageRow(p.rec, batchId)), { columns: USAGE_COLUMNS });
    }
    return { imported: fresh.length, duplicates, rejected: [] };
  });
}
