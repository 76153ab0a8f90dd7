/**
 * The auth checker: a cheap, pure function of the principal resolved once per request (and, for
 * "self" rules, of the object being read). No I/O. Used by type-graphql's `@Authorized(...)`.
 *
 * Rule names in `@Authorized(...)`: a role (`member`, `admin`, `finance`, `platform`) allows
 * that role; `self` allows a principal reading its own User object. `@Authorized()` with no
 * rules only requires some principal. A denied field throws FORBIDDEN on that field only
 * (guarded fields are nullable, so the rest of the query still returns).
 */
import type { AuthCheckerFn } from 'type-graphql';
import { forbidden, unauthenticated } from '../../../src/shared/index.js';
import type { Principal } from './principal.js';

/** Field-level matrix (see README): who may read what. */
export const MONEY = ['admin', 'finance', 'platform'] as const;
export const ADMIN = ['admin', 'platform'] as const;
export const PLATFORM = ['platform'] as const;
export const EMAIL = ['admin', 'platform', 'self'] as const;

export type Rule = (typeof MONEY)[number] | 'member' | 'self';

/** Pure decision: may `principal` read a field guarded by `rules` on `root`? */
export function isAllowed(principal: Principal, rules: readonly string[], root?: unknown): boolean {
  if (rules.length === 0) return true;
  for (const rule of rules) {
    if (rule === principal.role) return true;
    if (rule === 'self' && principal.kind === 'user' && isObjectWithId(root) && root.id === principal.id) return true;
  }
  return false;
}

function isObjectWithId(v: unknown): v is { id: unknown } {
  return typeof v === 'object' && v !== null && 'id' in v;
}

export const authChecker: AuthCheckerFn<{ principal: Principal | null }> = ({ context, root }, rules) => {
  const principal = context.principal;
  if (!principal) throw unauthenticated();
  if (!isAllowed(principal, rules, root)) throw forbidden(`requires one of: ${rules.join(', ')}`);
  return true;
};
