/**
 * Response objects start from Stripe's own example objects (`datasets/stripe/fixtures3.json`,
 * from Stripe's public OpenAPI repository) so every field the SDK's types name is present;
 * the fake then overwrites the fields it models and clears example-only noise.
 */
import { readFileSync } from 'node:fs';

export const fixturesPath = process.env.STRIPE_FIXTURES ?? '/work/shared/datasets/stripe/fixtures3.json';

let cache: Record<string, Record<string, unknown>> | undefined;

function resources(): Record<string, Record<string, unknown>> {
  cache ??= (JSON.parse(readFileSync(fixturesPath, 'utf8')) as { resources: Record<string, Record<string, unknown>> }).resources;
  return cache;
}

/** A deep copy of Stripe's example object of this type, with `overrides` applied on top. */
export function fromFixture<T extends Record<string, unknown>>(type: string, overrides: Record<string, unknown>): T {
  const base = resources()[type];
  if (!base) throw new Error(`fixtures3.json has no ${type}`);
  return { ...(structuredClone(base) as Record<string, unknown>), ...overrides } as T;
}
