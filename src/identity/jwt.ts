/**
 * JWT verification with jose. Issuer, audience and algorithms are pinned from config; the key
 * is a shared secret (HS*) or a JWKS URL (RS*, PS*, ES*, EdDSA) — never both families at once,
 * so a token signed with HS256 using a public key as the secret (HS/RS confusion) cannot verify.
 * `alg: none` is refused by jose's jwtVerify and by the pinned algorithm list.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { unauthenticated } from '../shared/index.js';
import { roles, type UserPrincipal } from './principal.js';

const uuid = z.string().uuid();
const claimsSchema = z
  .object({
    sub: uuid,
    tid: uuid.optional(),
    role: z.enum(roles),
  })
  .refine((c) => c.role === 'platform' || c.tid !== undefined, { message: 'tid is required for tenant roles' });

export interface JwtVerifier {
  verify(token: string): Promise<UserPrincipal>;
}

type JwtConfig = Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ALGORITHMS' | 'JWT_SECRET' | 'JWT_JWKS_URL'>;

const SYMMETRIC = /^HS(256|384|512)$/;
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

/** Builds the verifier; throws at start-up on an inconsistent configuration. Returns null when no key is configured (JWTs disabled). */
export function createJwtVerifier(config: JwtConfig, opts: { getKey?: JWTVerifyGetKey } = {}): JwtVerifier | null {
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
      try {
        const verified =
          key instanceof Uint8Array
            ? await jwtVerify(token, key, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms, requiredClaims: ['exp', 'sub'], clockTolerance: 5 })
            : await jwtVerify(token, key, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, algorithms, requiredClaims: ['exp', 'sub'], clockTolerance: 5 });
        payload = verified.payload;
      } catch (err) {
        if (err instanceof joseErrors.JOSEError || err instanceof TypeError) throw unauthenticated(reason(err));
        throw err;
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) throw unauthenticated('token claims are invalid');
      return { kind: 'user', id: claims.data.sub, tenantId: claims.data.tid ?? null, role: claims.data.role };
    },
  };
}

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return 'token claims are invalid';
  return 'invalid token';
}
