/**
 * `authenticateBearer`: the one credential check of every edge (inference, GraphQL, OTLP).
 *   Authorization: Bearer tg_…  (or X-API-Key: tg_…)  -> a Tollgate API key (src/keys lookup);
 *   Authorization: Bearer <jwt>                        -> a verified JWT (where the edge accepts users).
 * Refusals are AppErrors the edges map to HTTP: UNAUTHENTICATED 401 (missing, malformed, unknown,
 * revoked or expired), FORBIDDEN 403 (the tenant is suspended — for keys and users alike),
 * RATE_LIMITED 429 with `details.retryAfterSeconds` (the failed-credential limiter refused a
 * database lookup), UNAVAILABLE 503 (the lookup itself failed).
 */
import { AppError, forbidden, isAppError, unauthenticated, unavailable } from '../shared/index.js';
import type { FailedAuthLimiter } from './failed-auth.js';
import type { JwtVerifier } from './jwt.js';
import { roles, type ApiKeyLookup, type ApiKeyPrincipal, type Principal, type Role } from './principal.js';

export const API_KEY_PREFIX = 'tg_';
const MAX_CREDENTIAL_LENGTH = 8192;

export type Headers = Record<string, string | string[] | undefined>;
export interface BearerRequest {
  headers: Headers;
  /** The peer's address (the failed-credential limiter's unit). */
  ip: string;
}

export interface BearerAuth {
  /** API keys only (inference, OTLP): a principal, or an AppError (never null). */
  authenticateBearer(req: BearerRequest, accept: 'api_key'): Promise<ApiKeyPrincipal>;
  /** API key or JWT (GraphQL): null when the request carries no credentials at all. */
  authenticateBearer(req: BearerRequest, accept: 'api_key_or_user'): Promise<Principal | null>;
}

export interface BearerAuthDeps {
  apiKeys: ApiKeyLookup;
  /** Null: JWTs are refused (not configured, or an edge without users). */
  jwt?: JwtVerifier | null;
  /** Null: lookups are not limited (tests of other things). Production wires one in app/. */
  failedAuth?: FailedAuthLimiter | null;
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The credential a request carries: the Bearer token, else X-API-Key; undefined when none; UNAUTHENTICATED when malformed or two. */
export function bearerCredential(headers: Headers): string | undefined {
  const authorization = header(headers, 'authorization');
  const apiKeyHeader = header(headers, 'x-api-key');
  if (authorization === undefined && apiKeyHeader === undefined) return undefined;
  if (apiKeyHeader !== undefined) {
    if (authorization !== undefined) throw unauthenticated('send one credential, not two');
    if (apiKeyHeader.length === 0 || apiKeyHeader.length > MAX_CREDENTIAL_LENGTH) throw unauthenticated('invalid API key');
    return apiKeyHeader;
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m || m[1]!.length > MAX_CREDENTIAL_LENGTH) throw unauthenticated('missing or malformed Authorization: Bearer <credential> header');
  return m[1]!;
}

export function createBearerAuth(deps: BearerAuthDeps): BearerAuth {
  async function apiKey(secret: string, ip: string): Promise<ApiKeyPrincipal> {
    let record;
    try {
      record = await deps.apiKeys(secret, deps.failedAuth ? { guard: deps.failedAuth.guardFor(ip) } : {});
    } catch (err) {
      if (isAppError(err)) throw err;
      throw unavailable(`authentication is temporarily unavailable (${(err as Error).message.slice(0, 120)})`);
    }
    if (!record) throw unauthenticated('invalid or revoked API key');
    const role = record.role as Role;
    // Platform is an operator role: API keys never carry it (the database refuses it too).
    if (!roles.includes(role) || role === 'platform') throw unauthenticated('API key role does not allow API access');
    if (record.tenantStatus === 'suspended') throw forbidden('tenant suspended');
    return { kind: 'api_key', id: record.keyId, tenantId: record.tenantId, role };
  }

  async function authenticateBearer(req: BearerRequest, accept: 'api_key' | 'api_key_or_user'): Promise<Principal | null> {
    const credential = bearerCredential(req.headers);
    if (credential === undefined) {
      if (accept === 'api_key_or_user') return null;
      throw unauthenticated('missing or malformed Authorization: Bearer <api key> header');
    }
    if (accept === 'api_key' || credential.startsWith(API_KEY_PREFIX)) return apiKey(credential, req.ip);
    if (!deps.jwt) throw unauthenticated('JWT authentication is not configured');
    return deps.jwt.verify(credential);
  }

  return { authenticateBearer: authenticateBearer as BearerAuth['authenticateBearer'] };
}

/** The Retry-After seconds of a failed-credential refusal (undefined for any other error). */
export function retryAfterOf(err: unknown): number | undefined {
  if (!(err instanceof AppError) || err.code !== 'RATE_LIMITED') return undefined;
  const s = err.details.retryAfterSeconds;
  return typeof s === 'number' ? s : undefined;
}
