/** Stripe settings: STRIPE_SECRET_KEY / STRIPE_API_URL / STRIPE_WEBHOOK_SECRET, the older names as aliases, the SDK's host/port/protocol. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createStripeClient, stripeSdkOptions, stripeSyncEnabled } from '../../src/payments/index.js';

describe('config: Stripe', () => {
  it("defaults to Stripe's own API and no key (sync off, said in one line)", () => {
    const c = loadConfig({});
    expect(c.STRIPE_API_URL).toBe('https://api.stripe.com');
    expect(c.STRIPE_SECRET_KEY).toBeUndefined();
    expect(createStripeClient(c)).toBeNull();
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m) };
    expect(stripeSyncEnabled(c, logger)).toBe(false);
    expect(stripeSyncEnabled({ STRIPE_SECRET_KEY: 'sk_test_x' }, logger)).toBe(true);
    expect(lines).toEqual(['stripe sync is off: STRIPE_SECRET_KEY is not set']);
  });

  it('STRIPE_API_URL sets the SDK protocol, host and port', () => {
    expect(stripeSdkOptions('http://127.0.0.1:12111')).toEqual({ protocol: 'http', host: '127.0.0.1', port: 12111 });
    expect(stripeSdkOptions('https://api.stripe.com')).toEqual({ protocol: 'https', host: 'api.stripe.com', port: 443 });
    expect(() => stripeSdkOptions('ftp://x')).toThrow(/http/);
  });

  it('the older STRIPE_API_KEY / STRIPE_API_BASE are accepted and must agree with the new names', () => {
    const c = loadConfig({ STRIPE_API_KEY: 'sk_test_a', STRIPE_API_BASE: 'http://127.0.0.1:12111' });
    expect(c).toMatchObject({ STRIPE_SECRET_KEY: 'sk_test_a', STRIPE_API_URL: 'http://127.0.0.1:12111' });
    expect('STRIPE_API_KEY' in c).toBe(false);
    expect(loadConfig({ STRIPE_API_KEY: 'sk_test_a', STRIPE_SECRET_KEY: 'sk_test_a' }).STRIPE_SECRET_KEY).toBe('sk_test_a');
    const bad = () => loadConfig({ STRIPE_API_KEY: 'sk_test_a', STRIPE_SECRET_KEY: 'sk_test_b' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/STRIPE_SECRET_KEY: STRIPE_API_KEY is its older name/);
    // The error never echoes a secret.
    expect(bad).not.toThrow(/sk_test_/);
  });
});
