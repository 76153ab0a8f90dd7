/**
 * What a production configuration must hold, checked by `loadConfig` when NODE_ENV=production:
 * a real JWT key source and a metrics token, and no secret anyone could have read in the
 * repository or guessed. Outside production these rules do not apply (tests and laptops use
 * throwaway values).
 */

/** Values that shipped in examples, docs or compose files: anyone may know them. Compared case-insensitively. */
export const KNOWN_PLACEHOLDER_SECRETS: readonly string[] = [
  'local-development-secret-change-me-0123456789',
  'your-256-bit-secret',
  'your-secret-key',
  'changeme',
  'change-me',
  'secret',
  'supersecret',
  'super-secret',
  'password',
  'tollgate',
  'development-secret',
  'test-secret',
];

/** Words that mark a value as an example someone forgot to replace. */
const PLACEHOLDER_MARKERS = /change[-_ .]?me|replace[-_ .]?me|placeholder|example|your[-_ .]?(?:256[-_ .]?bit[-_ .]?)?secret|do[-_ .]?not[-_ .]?use|insecure|dummy/i;

/** Minimum Shannon entropy of the value's own character distribution, in bits per character. */
export const MIN_SECRET_BITS_PER_CHAR = 3;

/** Shannon entropy (bits per character) of the character frequencies in `value`. */
export function bitsPerChar(value: string): number {
  const chars = [...value];
  if (chars.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * Why `value` is not acceptable as a production secret, or null when it is. The rule, so it can
 * be checked by anyone: at least `minBytes` UTF-8 bytes, at least 3 bits of entropy per
 * character (random base64 or hex has 4-6; `aaaa…` has 0, `abab…` 1), not a known placeholder
 * and no placeholder words. `node scripts/compose-secrets.mjs` generates values that pass.
 */
export function secretWeakness(value: string, minBytes: number): string | null {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < minBytes) return `is ${bytes} bytes; at least ${minBytes} random bytes are required`;
  const lower = value.toLowerCase();
  if (KNOWN_PLACEHOLDER_SECRETS.includes(lower)) return 'is a published placeholder value';
  if (PLACEHOLDER_MARKERS.test(value)) return 'looks like a placeholder (contains a word such as "change-me" or "example")';
  const h = bitsPerChar(value);
  if (h < MIN_SECRET_BITS_PER_CHAR) return `has too little entropy (${h.toFixed(2)} bits per character; at least ${MIN_SECRET_BITS_PER_CHAR} required)`;
  return null;
}

interface ProductionSettings {
  NODE_ENV: string;
  JWT_ALGORITHMS: string;
  JWT_SECRET?: string | undefined;
  JWT_JWKS_URL?: string | undefined;
  METRICS_TOKEN?: string | undefined;
  OTLP_INTERNAL_TOKEN?: string | undefined;
}

const SYMMETRIC_JWT = /^HS(256|384|512)$/;

/** Problems that stop a production start, each naming its variable; empty outside production. */
export function productionProblems(c: ProductionSettings): string[] {
  if (c.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  const algorithms = c.JWT_ALGORITHMS.split(',').map((a) => a.trim()).filter(Boolean);
  const bySecret = algorithms.length > 0 && algorithms.every((a) => SYMMETRIC_JWT.test(a));
  if (bySecret) {
    // HS* tokens are verified with JWT_SECRET: a missing one would leave JWTs off silently, a
    // known one lets anyone sign a platform token.
    if (c.JWT_SECRET === undefined) problems.push('JWT_SECRET: required in production with HS* JWT_ALGORITHMS (or use JWT_JWKS_URL with asymmetric algorithms)');
    else {
      const weak = secretWeakness(c.JWT_SECRET, 32);
      if (weak) problems.push(`JWT_SECRET: ${weak}`);
    }
  }
  // /metrics names every tenant's private models; in production only a token opens it.
  if (c.METRICS_TOKEN === undefined) problems.push('METRICS_TOKEN: required in production (GET /metrics answers only Authorization: Bearer <METRICS_TOKEN>)');
  for (const key of ['METRICS_TOKEN', 'OTLP_INTERNAL_TOKEN'] as const) {
    const value = c[key];
    const weak = value === undefined ? null : secretWeakness(value, 16);
    if (weak) problems.push(`${key}: ${weak}`);
  }
  return problems;
}
