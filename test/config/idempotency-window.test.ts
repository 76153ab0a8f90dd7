/**
 * One idempotency window (IDEMPOTENCY_WINDOW_SECONDS) for admission and metering; the two older
 * names stay accepted as aliases and must agree with each other and with it.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, knownVariables, loadConfig } from '../../src/config/index.js';

describe('config: the idempotency window', () => {
  it('defaults to 24 h and is the only window the config exposes', () => {
    const c = loadConfig({});
    expect(c.IDEMPOTENCY_WINDOW_SECONDS).toBe(86_400);
    expect('QUOTA_IDEMPOTENCY_WINDOW_SECONDS' in c).toBe(false);
    expect('USAGE_DEDUP_WINDOW_HOURS' in c).toBe(false);
    // The old names are still variables a deployment (or compose) may set.
    expect(knownVariables).toEqual(expect.arrayContaining(['IDEMPOTENCY_WINDOW_SECONDS', 'QUOTA_IDEMPOTENCY_WINDOW_SECONDS', 'USAGE_DEDUP_WINDOW_HOURS']));
  });

  it('takes either old name alone, converting hours to seconds', () => {
    expect(loadConfig({ QUOTA_IDEMPOTENCY_WINDOW_SECONDS: '3600' }).IDEMPOTENCY_WINDOW_SECONDS).toBe(3600);
    expect(loadConfig({ USAGE_DEDUP_WINDOW_HOURS: '48' }).IDEMPOTENCY_WINDOW_SECONDS).toBe(172_800);
    expect(loadConfig({ IDEMPOTENCY_WINDOW_SECONDS: '7200' }).IDEMPOTENCY_WINDOW_SECONDS).toBe(7200);
  });

  it('accepts names that agree', () => {
    const c = loadConfig({ IDEMPOTENCY_WINDOW_SECONDS: '7200', QUOTA_IDEMPOTENCY_WINDOW_SECONDS: '7200', USAGE_DEDUP_WINDOW_HOURS: '2' });
    expect(c.IDEMPOTENCY_WINDOW_SECONDS).toBe(7200);
  });

  it('refuses names that disagree, naming them and their values', () => {
    const bad = () => loadConfig({ QUOTA_IDEMPOTENCY_WINDOW_SECONDS: '86400', USAGE_DEDUP_WINDOW_HOURS: '48' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/QUOTA_IDEMPOTENCY_WINDOW_SECONDS and USAGE_DEDUP_WINDOW_HOURS name one setting and must agree \(got QUOTA_IDEMPOTENCY_WINDOW_SECONDS=86400, USAGE_DEDUP_WINDOW_HOURS=48/);
    expect(() => loadConfig({ IDEMPOTENCY_WINDOW_SECONDS: '3600', USAGE_DEDUP_WINDOW_HOURS: '24' })).toThrow(/IDEMPOTENCY_WINDOW_SECONDS and USAGE_DEDUP_WINDOW_HOURS name one setting/);
  });

  it('validates each name like any setting', () => {
    expect(() => loadConfig({ USAGE_DEDUP_WINDOW_HOURS: '0' })).toThrow(/USAGE_DEDUP_WINDOW_HOURS/);
    expect(() => loadConfig({ QUOTA_IDEMPOTENCY_WINDOW_SECONDS: 'soon' })).toThrow(/QUOTA_IDEMPOTENCY_WINDOW_SECONDS/);
  });
});
