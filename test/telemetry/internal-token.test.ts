/**
 * The internal OTLP token lets its holder file spans under any tenant. Tollgate sends it only to
 * a Tollgate receiver: its own (loopback, on the port of the receiver it runs) or an origin listed
 * in OTLP_INTERNAL_RECEIVERS. A foreign collector — named by OTEL_EXPORTER_OTLP_ENDPOINT, or a
 * sidecar listening on the default 127.0.0.1:4318 of a process that runs no receiver — gets the
 * spans without it. Real exports to a local HTTP server that records what arrives.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/shared/index.js';
import { mayReceiveInternalToken, startTracing } from '../../src/telemetry/index.js';

const token = `internal-${randomBytes(16).toString('hex')}`;
const received: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
let collector: Server;
let port: number;

beforeAll(async () => {
  process.env.OTEL_SDK_DISABLED = 'false';
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  port = (collector.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => collector.close(resolve));
});

/** One SDK per export (the SDK registers globals): start, make one span, flush, stop, unregister. */
async function exportOneSpan(env: Record<string, string>, opts: { ownReceiverPort?: number } = {}) {
  const config = loadConfig({ ...process.env, ...env });
  const handle = startTracing({ config, logger: createLogger({ level: 'silent' }), internalToken: token, ...opts });
  const name = `span-${randomBytes(4).toString('hex')}`;
  try {
    handle.tracer.startSpan(name).end();
    await handle.forceFlush();
  } finally {
    await handle.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  }
  const hit = received.find((r) => r.body.includes(name));
  expect(hit, 'the collector received the span').toBeDefined();
  return { handle, hit: hit! };
}

describe('the internal OTLP token', () => {
  it('is not sent to a foreign collector named by OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const { handle, hit } = await exportOneSpan({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` }, { ownReceiverPort: 4318 });
    expect(handle.sendsInternalToken).toBe(false);
    expect(hit.url).toBe('/v1/traces');
    expect(hit.headers.authorization).toBeUndefined();
    expect(JSON.stringify(hit.headers)).not.toContain(token);
  });

  it('is not sent to a sidecar on the default endpoint when this process runs no receiver', async () => {
    const { handle, hit } = await exportOneSpan({ TOLLGATE_OTLP_PORT: String(port) });
    expect(handle.url).toBe(`http://127.0.0.1:${port}/v1/traces`);
    expect(handle.sendsInternalToken).toBe(false);
    expect(hit.headers.authorization).toBeUndefined();
  });

  it('is sent to a receiver listed in OTLP_INTERNAL_RECEIVERS', async () => {
    const { handle, hit } = await exportOneSpan({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTLP_INTERNAL_RECEIVERS: `http://otlp:4318, http://127.0.0.1:${port}/` });
    expect(handle.sendsInternalToken).toBe(true);
    expect(hit.headers.authorization).toBe(`Bearer ${token}`);
  });

  it('goes only to the own receiver: loopback, plain http, that exact port', () => {
    const none = { OTLP_INTERNAL_RECEIVERS: [] as string[] };
    expect(mayReceiveInternalToken('http://127.0.0.1:4318/v1/traces', none, 4318)).toBe(true);
    expect(mayReceiveInternalToken('http://localhost:4318/v1/traces', none, 4318)).toBe(true);
    expect(mayReceiveInternalToken('http://[::1]:4318/v1/traces', none, 4318)).toBe(true);
    expect(mayReceiveInternalToken('http://127.0.0.1:4319/v1/traces', none, 4318)).toBe(false);
    expect(mayReceiveInternalToken('http://127.0.0.1:4318/v1/traces', none, undefined)).toBe(false);
    expect(mayReceiveInternalToken('http://127.0.0.1:4318/v1/traces', none, 0)).toBe(false);
    expect(mayReceiveInternalToken('https://127.0.0.1:4318/v1/traces', none, 4318)).toBe(false);
    expect(mayReceiveInternalToken('http://collector.example:4318/v1/traces', none, 4318)).toBe(false);
    expect(mayReceiveInternalToken('http://127.0.0.1.nip.io:4318/v1/traces', none, 4318)).toBe(false);
    const listed = { OTLP_INTERNAL_RECEIVERS: ['http://otlp:4318'] };
    expect(mayReceiveInternalToken('http://otlp:4318/v1/traces', listed)).toBe(true);
    expect(mayReceiveInternalToken('http://otlp:4319/v1/traces', listed)).toBe(false);
    expect(mayReceiveInternalToken('https://otlp:4318/v1/traces', listed)).toBe(false);
  });

  it('OTLP_INTERNAL_RECEIVERS holds origins; a bad URL is a config error naming it', () => {
    expect(loadConfig({ OTLP_INTERNAL_RECEIVERS: 'http://otlp:4318/v1/traces,http://OTLP-2:4318' }).OTLP_INTERNAL_RECEIVERS).toEqual(['http://otlp:4318', 'http://otlp-2:4318']);
    expect(loadConfig({}).OTLP_INTERNAL_RECEIVERS).toEqual([]);
    expect(() => loadConfig({ OTLP_INTERNAL_RECEIVERS: 'http://otlp:4318,no url here' })).toThrow(/OTLP_INTERNAL_RECEIVERS/);
  });
});
