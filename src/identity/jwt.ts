/**
 * JWT verification with jose, then the subject's rights from the database (issue 17.11).
 * - Signature: issuer, audience and algorithms are pinned from config; the key is a shared secret
 *   (HS*) or a JWKS URL (RS*, PS*, ES*, EdDSA) — never both families at once, so a token signed
 *   with HS256 using a public key as the secret (HS/RS confusion) cannot verify. `alg: none` is
 *   refused by jose and by the pinned list.
 * - Lifetime: `exp` and `iat` are required, and a token older than JWT_MAX_AGE_SECONDS is refused
 *   whatever its `exp` says (a leaked 100-year token lives an hour at most).
 * - Rights: the role is the user's membership in the tenant the token names (`tid`), or
 *   `platform` when the user is on the operator list; a `role` claim is only a statement the
 *   database must confirm (a claim that differs is refused). A revoked `jti` is refused; a
 *   suspended tenant is 403 (an operator is not tenant-bound).
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { forbidden, isAppError, unauthenticated, unavailable } from '../shared/index.js';
import { roles, type Role, type UserPrincipal } from './principal.js';
import type { SubjectResolver } from './subjects.js';

const uuid = z.string().uuid();
const claimsSchema = z.object({
  sub: uuid,
  tid: uuid.optional(),
  role: z.enum(roles).optional(),
  jti: z.string().min(1).max(256).optional(),
});

export interface JwtVerifier {
  verify(token: string): Promise<UserPrincipal>;
}

type JwtConfig = Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ALGORITHMS' | 'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_MAX_AGE_SECONDS'>;

const SYMMETRIC = /^HS(256|384|512)$/;
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/** Builds the verifier; throws at start-up on an inconsistent configuration. Returns null when no key is configured (JWTs disabled). */
export function createJwtVerifier(config: JwtConfig, opts: { subjects: SubjectResolver; getKey?: JWTVerifyGetKey }): JwtVerifier | null {
  const algorithms = config.JWT_ALGORITHMS.split(',').map((a) => a.trim()).filter(Boolean);
  if (algorithms.length === 0) throw new Error('JWT_ALGORITHMS is empty');
  const symmetric = algorithms.every((a) => SYMMETRIC.test(a));
  const asymmetric = algorithms.every((a) => ASYMMETRIC.test(a));
  if (!symmetric && !asymmetric) throw new Error(`JWT_ALGORITHMS must be all HS* or all asymmetric, got ${config.JWT_ALGORITHMS}`);

  let key: Uint8Array | JWTVerifyGetKey;
  if (opts.getKey) {
    if (symmetric) throw new Error('a key set needs asymmetric JWT_ALGORITHMS');
    key = opts.getKey;
  } else if (symmetric) {
    if (!config.JWT_SECRET) return null;
    if (config.JWT_SECRET.length < 32) throw new Error('JWT_SECRET must be at least 32 characters');
    key = new TextEncoder().encode(config.JWT_SECRET);
  } else {
    if (!config.JWT_JWKS_URL) return null;
    key = createRemoteJWKSet(new URL(config.JWT_JWKS_URL), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
  }

  return {
    async verify(token: string): Promise<UserPrincipal> {
      let payload: unknown;
      const rules = { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms, requiredClaims: ['exp', 'sub', 'iat'], maxTokenAge: config.JWT_MAX_AGE_SECONDS, clockTolerance: 5 };
      try {
        const verified = key instanceof Uint8Array ? await jwtVerify(token, key, rules) : await jwtVerify(token, key, rules);
        payload = verified.payload;
      } catch (err) {
        if (err instanceof joseErrors.JOSEError || err instanceof TypeError) throw unauthenticated(reason(err));
        throw err;
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) throw unauthenticated('token claims are invalid');
      return rightsOf(opts.subjects, claims.data);
    },
  };
}

/** The principal a verified token stands for, by the database's word (see the header). */
async function rightsOf(subjects: SubjectResolver, c: z.infer<typeof claimsSchema>): Promise<UserPrincipal> {
  const tenantId = c.tid ?? null;
  let subject;
  try {
    subject = await subjects.resolve(c.sub, tenantId, c.jti ?? null);
  } catch (err) {
    if (isAppError(err)) throw err;
    throw unavailable(`authentication is temporarily unavailable (${(err as Error).message.slice(0, 120)})`);
  }
  if (subject.revoked) throw unauthenticated('token revoked');
  const wantsPlatform = c.role === 'platform' || (c.role === undefined && (tenantId === null || subject.role === null));
  if (wantsPlatform) {
    if (!subject.operator) throw unauthenticated(tenantId === null ? 'not a platform operator (tenant roles need tid)' : 'not a member of this tenant');
    return { kind: 'user', id: c.sub, tenantId, role: 'platform' };
  }
  if (tenantId === null) throw unauthenticated('tid is required for tenant roles');
  if (subject.role === null) throw unauthenticated('not a member of this tenant');
  if (c.role !== undefined && c.role !== subject.role) throw unauthenticated("the token's role claim does not match the user's membership");
  if (subject.tenantStatus === 'suspended') throw forbidden('tenant suspended');
  return { kind: 'user', id: c.sub, tenantId, role: subject.role as Role };
}

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? 'token too old (issued more than JWT_MAX_AGE_SECONDS ago)' : 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return err.claim === 'iat' ? 'token has no valid iat (issued-at) claim' : 'token claims are invalid';
  return 'invalid token';
}
