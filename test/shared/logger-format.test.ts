import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from '../../src/shared/index.js';
import { loadConfig } from '../../src/config/index.js';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('log format', () => {
  it('auto is human-readable on a terminal outside production and JSON otherwise', () => {
    expect(resolveLogFormat('auto', { isTTY: true, production: false })).toBe('pretty');
    expect(resolveLogFormat('auto', { isTTY: false, production: false })).toBe('json');
    expect(resolveLogFormat('auto', { isTTY: true, production: true })).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true, production: false })).toBe('json');
    expect(resolveLogFormat('pretty', { isTTY: false, production: true })).toBe('pretty');
  });

  it('LOG_FORMAT is validated with the other settings', () => {
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
    expect(loadConfig({}).LOG_FORMAT).toBe('auto');
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });

  it('pretty writes one readable line per event with its fields; json writes parseable lines', () => {
    const pretty = sink();
    createLogger({ level: 'info', format: 'pretty', destination: pretty.stream }).warn({ tenant: 't1' }, 'quota nearly used');
    const line = pretty.text();
    expect(line).toMatch(/WARN/);
    expect(line).toMatch(/quota nearly used/);
    expect(line).toMatch(/tenant: "t1"/);
    expect(() => JSON.parse(line)).toThrow();

    const json = sink();
    createLogger({ level: 'info', format: 'json', destination: json.stream }).warn({ tenant: 't1' }, 'quota nearly used');
    expect(JSON.parse(json.text())).toMatchObject({ level: 40, tenant: 't1', msg: 'quota nearly used' });
  });
});
