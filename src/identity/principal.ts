/**
 * Who is calling, in one shape for every edge (inference, GraphQL, OTLP): resolved once per
 * request by `authenticateBearer` (bearer.ts); everything downstream (role checks, tenant
 * scoping, admission, span attribution) is a pure function of it.
 */
export const roles = ['member', 'admin', 'finance', 'platform'] as const;
export type Role = (typeof roles)[number];

/** A Tollgate API key: always bound to one tenant; never `platform` (the database refuses that role for keys). */
export interface ApiKeyPrincipal {
  readonly kind: 'api_key';
  /** The key's id. */
  readonly id: string;
  readonly tenantId: string;
  readonly role: Exclude<Role, 'platform'>;
}

/** A user from a verified JWT: role and tenant come from memberships (or the platform-operator list), never from the token's claims. */
export interface UserPrincipal {
  readonly kind: 'user';
  /** The user's id (the token's `sub`). */
  readonly id: string;
  /** The tenant acted in; null only for a platform operator without a home tenant. */
  readonly tenantId: string | null;
  readonly role: Role;
}

export type Principal = ApiKeyPrincipal | UserPrincipal;

/**
 * What an API-key lookup (src/keys' authenticator) reports for a secret. `guard` is called once
 * before the lookup goes to the database (never on a cache hit), and may refuse it by throwing.
 */
export interface ApiKeyRecord {
  keyId: string;
  tenantId: string;
  role: string;
  tenantStatus?: string;
}
export type LookupGuard = (hash: string) => Promise<LookupTicket>;
export interface LookupTicket {
  /** Reports the lookup's outcome (found = a live key). */
  settle(found: boolean): void;
}
export type ApiKeyLookup = (secret: string, opts?: { guard?: LookupGuard }) => Promise<ApiKeyRecord | null>;

/** The audit-log actor for a principal. */
export function actorOf(principal: Principal): { actorType: 'user' | 'api_key' | 'platform'; actorId: string } {
  if (principal.role === 'platform') return { actorType: 'platform', actorId: principal.id };
  return { actorType: principal.kind, actorId: principal.id };
}
