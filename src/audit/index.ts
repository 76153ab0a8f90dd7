/**
 * Audit log: who did what to which object, with before/after snapshots. Written inside the
 * same transaction as the change it records (pass that transaction's client), so a change
 * and its audit row commit or roll back together. The app role may only INSERT/SELECT.
 */
import type pg from 'pg';
import { z } from 'zod';

export const actorTypes = ['user', 'api_key', 'system', 'cli', 'platform'] as const;
export type ActorType = (typeof actorTypes)[number];

/** The principal performing a change, as recorded in audit_log. */
export interface Actor {
  type: ActorType;
  id: string;
  requestId?: string | undefined;
}

export const systemActor: Actor = { type: 'system', id: 'tollgate' };

export interface AuditEntry {
  tenantId?: string | null;
  actorType: ActorType;
  actorId: string;
  action: string;
  targetType: string;
  targetId?: string | null;
  before?: unknown;
  after?: unknown;
  requestId?: string | null;
}

const entrySchema = z.object({
  tenantId: z.string().uuid().nullish(),
  actorType: z.enum(actorTypes),
  actorId: z.string().min(1),
  action: z.string().min(1),
  targetType: z.string().min(1),
  targetId: z.string().nullish(),
  requestId: z.string().nullish(),
});

export async function recordAudit(client: pg.ClientBase, entry: AuditEntry): Promise<{ id: string }> {
  const e = entrySchema.parse(entry);
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, target_type, target_id, before, after, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [e.tenantId ?? null, e.actorType, e.actorId, e.action, e.targetType, e.targetId ?? null, toJson(entry.before), toJson(entry.after), e.requestId ?? null],
  );
  return { id: rows[0]!.id };
}

/** Convenience: an entry from an Actor. */
export function auditFrom(actor: Actor, rest: Omit<AuditEntry, 'actorType' | 'actorId' | 'requestId'>): AuditEntry {
  return { ...rest, actorType: actor.type, actorId: actor.id, requestId: actor.requestId ?? null };
}

export interface AuditRow {
  id: string;
  tenantId: string | null;
  actorType: ActorType;
  actorId: string;
  action: string;
  targetType: string;
  targetId: string | null;
  before: unknown;
  after: unknown;
  at: Date;
  requestId: string | null;
}

/** Reads a tenant's audit entries, newest first (run inside withTenant / withPlatform). */
export async function listAudit(client: pg.ClientBase, q: { tenantId: string; targetType?: string; targetId?: string; limit?: number }): Promise<AuditRow[]> {
  const { rows } = await client.query(
    `SELECT id, tenant_id, actor_type, actor_id, action, target_type, target_id, before, after, at, request_id
     FROM audit_log WHERE tenant_id = $1 AND ($2::text IS NULL OR target_type = $2) AND ($3::text IS NULL OR target_id = $3)
     ORDER BY at DESC, id DESC LIMIT $4`,
    [q.tenantId, q.targetType ?? null, q.targetId ?? null, Math.min(q.limit ?? 100, 1000)],
  );
  return rows.map((r) => ({
    id: String(r.id),
    tenantId: r.tenant_id,
    actorType: r.actor_type,
    actorId: r.actor_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    before: r.before,
    after: r.after,
    at: r.at,
    requestId: r.request_id,
  }));
}

// undefined -> SQL NULL; anything else as JSON (pg would send arrays as Postgres arrays otherwise).
function toJson(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
