/**
 * Who is calling. Resolved once per request (JWT or API key) and put in the GraphQL context;
 * everything downstream (auth checker, tenant scoping) is a pure function of it.
 */
export const roles = ['member', 'admin', 'finance', 'platform'] as const;
export type Role = (typeof roles)[number];

export interface Principal {
  /** `user` from a verified JWT, `api_key` from a Tollgate API key. */
  kind: 'user' | 'api_key';
  /** User id (JWT `sub`) or API key id. */
  id: string;
  /** The tenant the principal belongs to; null only for a platform operator without a home tenant. */
  tenantId: string | null;
  role: Role;
}

/** The audit-log actor for a principal. */
export function actorOf(principal: Principal): { actorType: 'user' | 'api_key' | 'platform'; actorId: string } {
  if (principal.role === 'platform') return { actorType: 'platform', actorId: principal.id };
  return { actorType: principal.kind, actorId: principal.id };
}
