/**
 * Turns request headers into a principal, once per request:
 * - `Authorization: Bearer tg_…` (or `X-API-Key: tg_…`): a Tollgate API key, its role from api_keys.role;
 * - `Authorization: Bearer <jwt>`: a verified JWT.
 * No credentials -> null (every operation then answers UNAUTHENTICATED). Bad credentials -> UNAUTHENTICATED error.
 * An API key of a suspended tenant -> FORBIDDEN; JWT users of a suspended tenant are checked in the
 * server's context (one tenant read per request, through the request's tenant loader).
 */
import { forbidden, unauthenticated } from '../../../src/shared/index.js';
import type { JwtVerifier } from './jwt.js';
import { roles, type Principal, type Role } from './principal.js';

export interface ApiKeyIdentity {
  keyId: string;
  tenantId: string;
  role: string;
  /** The key's tenant status (src/keys reports it); 'suspended' -> FORBIDDEN, as on inference and OTLP. */
  tenantStatus?: string;
}

/** The postgres engineer's `createApiKeyAuthenticator(...).authenticate`, or anything with its shape. */
export type AuthenticateApiKey = (secret: string) => Promise<ApiKeyIdentity | null>;

export interface PrincipalResolver {
  resolve(headers: Record<string, string | string[] | undefined>): Promise<Principal | null>;
}

const API_KEY_PREFIX = 'tg_';
const MAX_CREDENTIAL_LENGTH = 8192;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function createPrincipalResolver(deps: { jwt: JwtVerifier | null; authenticate: AuthenticateApiKey }): PrincipalResolver {
  async function fromApiKey(secret: string): Promise<Principal> {
    const identity = await deps.authenticate(secret);
    if (!identity) throw unauthenticated('invalid or revoked API key');
    const role = identity.role as Role;
    // Platform is an operator role: API keys never carry it (the database refuses it too).
    if (!roles.includes(role) || role === 'platform') throw unauthenticated('API key role does not allow API access');
    if (identity.tenantStatus === 'suspended') throw forbidden('tenant suspended');
    return { kind: 'api_key', id: identity.keyId, tenantId: identity.tenantId, role };
  }

  return {
    async resolve(headers) {
      const authorization = header(headers, 'authorization');
      const apiKeyHeader = header(headers, 'x-api-key');
      if (authorization === undefined && apiKeyHeader === undefined) return null;
      if (apiKeyHeader !== undefined) {
        if (authorization !== undefined) throw unauthenticated('send one credential, not two');
        if (!apiKeyHeader.startsWith(API_KEY_PREFIX) || apiKeyHeader.length > MAX_CREDENTIAL_LENGTH) throw unauthenticated('invalid API key');
        return fromApiKey(apiKeyHeader);
      }
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!m || m[1]!.length > MAX_CREDENTIAL_LENGTH) throw unauthenticated('expected Authorization: Bearer <token>');
      const token = m[1]!;
      if (token.startsWith(API_KEY_PREFIX)) return fromApiKey(token);
      if (!deps.jwt) throw unauthenticated('JWT authentication is not configured');
      return deps.jwt.verify(token);
    },
  };
}
