/**
 * A SCRAM-SHA-256 verifier computed here, as psql's \password does, so `ALTER ROLE … PASSWORD`
 * sends and the server may log only the verifier, never the password (RFC 5802 / RFC 7677; the
 * format Postgres stores in pg_authid.rolpassword).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096; // Postgres' default scram_iterations

/** Printable ASCII needs no SASLprep (it maps to itself); other passwords are sent for the server to hash. */
export function scramVerifiable(password: string): boolean {
  return /^[\x21-\x7e]+$/.test(password);
}

export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
