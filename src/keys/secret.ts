/**
 * API-key secrets: `tg_` + base64url(32 random bytes) (256 bits). Only sha256(secret) is stored;
 * lookups go by that hash, so response timing can only ever leak information about hashes of
 * guesses, never about a stored secret (no byte-by-byte comparison of secrets happens anywhere).
 */
import { createHash, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'tg_';
const SECRET_RE = /^tg_[A-Za-z0-9_-]{43}$/;

export function generateSecret(): { secret: string; prefix: string; hash: string } {
  const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
  return { secret, prefix: displayPrefix(secret), hash: hashSecret(secret) };
}

/** The 8 characters after `tg_`: enough to tell keys apart in a list, useless to an attacker. */
export function displayPrefix(secret: string): string {
  return secret.slice(SECRET_PREFIX.length, SECRET_PREFIX.length + 8);
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Cheap shape check before any lookup: rejects garbage without touching the cache or the database. */
export function looksLikeSecret(value: unknown): value is string {
  return typeof value === 'string' && SECRET_RE.test(value);
}
