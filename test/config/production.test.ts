/**
 * A production process refuses to start with a JWT secret anyone could know or guess (today's
 * compose placeholder let anyone who read the repository sign a `role: platform` token), without
 * a JWT key source at all, or without a METRICS_TOKEN. The rule for secrets is measurable:
 * >= 32 bytes, >= 3 bits of entropy per character, not a published placeholder.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { bitsPerChar, ConfigError, KNOWN_PLACEHOLDER_SECRETS, loadConfig, secretWeakness } from '../../src/config/index.js';

const root = path.resolve(import.meta.dirname, '../..');
const strong = () => randomBytes(32).toString('base64url');
const production = (env: Record<string, string | undefined>) => ({ NODE_ENV: 'production', JWT_SECRET: strong(), METRICS_TOKEN: strong(), ...env });

function configError(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted the configuration');
}

describe('production configuration', () => {
  it('refuses each bad JWT_SECRET with an error naming JWT_SECRET', () => {
    const bad: Record<string, string | undefined> = {
      missing: undefined,
      'compose placeholder': 'local-development-secret-change-me-0123456789',
      'jwt.io example': 'your-256-bit-secret',
      'short random': randomBytes(12).toString('base64url'),
      'one character': 'a'.repeat(64),
      'two characters': 'ab'.repeat(32),
      'placeholder word in a long value': `please-replace-me-${randomBytes(24).toString('hex')}`,
      'known placeholder, other case': 'Local-Development-Secret-Change-Me-0123456789',
    };
    for (const [what, secret] of Object.entries(bad)) {
      const message = configError(production({ JWT_SECRET: secret }));
      expect(message, what).toMatch(/^invalid production configuration/);
      expect(message, what).toMatch(/\n {2}JWT_SECRET: /);
      if (secret !== undefined) expect(message, what).not.toContain(secret); // never echo a secret into logs
    }
  });

  it('accepts a random secret, a JWKS-only setup, and anything outside production', () => {
    expect(loadConfig(production({})).NODE_ENV).toBe('production');
    expect(loadConfig(production({ JWT_SECRET: randomBytes(32).toString('hex') })).JWT_SECRET).toHaveLength(64);
    // Asymmetric algorithms verify against the JWKS: no shared secret involved.
    expect(() => loadConfig(production({ JWT_SECRET: undefined, JWT_ALGORITHMS: 'RS256', JWT_JWKS_URL: 'https://idp.example/jwks.json' }))).not.toThrow();
    expect(() => loadConfig({ NODE_ENV: 'development', JWT_SECRET: 'local-development-secret-change-me-0123456789' })).not.toThrow();
  });

  it('requires METRICS_TOKEN, and a strong one', () => {
    expect(configError(production({ METRICS_TOKEN: undefined }))).toMatch(/\n {2}METRICS_TOKEN: required in production/);
    expect(configError(production({ METRICS_TOKEN: 'changeme-changeme' }))).toMatch(/\n {2}METRICS_TOKEN: /);
    expect(configError(production({ OTLP_INTERNAL_TOKEN: 'x'.repeat(40) }))).toMatch(/\n {2}OTLP_INTERNAL_TOKEN: has too little entropy/);
  });

  it('measures entropy per character from the value itself', () => {
    expect(bitsPerChar('aaaaaaaa')).toBe(0);
    expect(bitsPerChar('abababab')).toBe(1);
    expect(bitsPerChar(strong())).toBeGreaterThan(4);
    expect(secretWeakness(strong(), 32)).toBeNull();
    for (const p of KNOWN_PLACEHOLDER_SECRETS) expect(secretWeakness(p, 1), p).not.toBeNull();
  });

  it('the real process refuses to start with the old compose secret, so the forged platform token finds no server', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const secret = 'local-development-secret-change-me-0123456789';
    const env = { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'silent', JWT_SECRET: secret, METRICS_TOKEN: strong(), TOLLGATE_API_PORT: String(port) };
    const run = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(root, 'bin/tollgate.js'), 'serve', '--roles', 'api'], { cwd: root, env, timeout: 60_000 }, (err, _stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stderr });
      });
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('JWT_SECRET: is a published placeholder value');
    expect(run.stderr).not.toContain(secret);
    // The attack from the audit: a 100-year platform token signed with the published secret.
    const forged = await new SignJWT({ role: 'platform' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(randomUUID())
      .setIssuer('tollgate')
      .setAudience('tollgate-api')
      .setExpirationTime('100y')
      .sign(new TextEncoder().encode(secret));
    const attempt = fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ tenants(first: 10) { edges { node { id } } } }' }),
    });
    await expect(attempt).rejects.toThrow();
  });
});
