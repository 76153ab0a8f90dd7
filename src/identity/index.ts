/**
 * Identity: who is calling, for every edge. One principal type, one `authenticateBearer`
 * (API keys and JWTs, the suspension check), the failed-credential limiter in front of the
 * database, JWT verification (lifetime, memberships, revocation) and the tables behind it:
 * memberships, platform operators, revoked token ids.
 */
export { roles, actorOf, type Role, type Principal, type ApiKeyPrincipal, type UserPrincipal, type ApiKeyRecord, type ApiKeyLookup, type LookupGuard, type LookupTicket } from './principal.js';
export { createBearerAuth, bearerCredential, retryAfterOf, API_KEY_PREFIX, type BearerAuth, type BearerAuthDeps, type BearerRequest } from './bearer.js';
export { createFailedAuthLimiter, type FailedAuthLimiter, type FailedAuthConfig } from './failed-auth.js';
export { createJwtVerifier, type JwtVerifier } from './jwt.js';
export { createSubjectResolver, type SubjectResolver, type Subject } from './subjects.js';
export {
  addMember,
  removeMember,
  listMembers,
  addPlatformOperator,
  removePlatformOperator,
  listPlatformOperators,
  revokeJwt,
  membersByKeys,
  identityChannel,
  memberRoles,
  type MemberRole,
  type Member,
  type MemberRow,
  type PlatformOperator,
  type MembersDeps,
} from './members.js';
