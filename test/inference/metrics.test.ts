/**
 * GET /metrics lists every tenant's private model names: with METRICS_TOKEN set it needs that
 * bearer token, without it only loopback clients are answered (others get the unknown-route 404).
 * Production requires the token (config refuses to start without it): loopback is no proof of
 * an operator behind a same-host reverse proxy or sidecar.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopback } from '../../inference/src/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { get, makeRepo, startServer, type Running } from './helpers.js';

const repo = makeRepo(['mlp-demo']);
const TOKEN = 'scrape-token-0123456789abcdef';
let open: Running;
let guarded: Running;

beforeAll(async () => {
  open = await startServer({ repo: repo.dir });
  guarded = await startServer({ repo: repo.dir, env: { METRICS_TOKEN: TOKEN } });
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
  repo.cleanup();
});

const scrape = (srv: Running, remoteAddress: string, authorization?: string) =>
  srv.server.app.inject({ method: 'GET', url: '/metrics', remoteAddress, headers: authorization ? { authorization } : {} });

describe('/metrics without METRICS_TOKEN', () => {
  it('answers loopback clients', async () => {
    const res = await get(open.base, '/metrics');
    expect(res.status).toBe(200);
    expect(res.raw.toString()).toContain('tollgate_inference_process_');
    for (const addr of ['127.0.0.1', '127.10.0.3', '::1', '::ffff:127.0.0.1']) expect((await scrape(open, addr)).statusCode).toBe(200);
  });

  it('answers other clients exactly like an unknown route', async () => {
    const unknown = await open.server.app.inject({ method: 'GET', url: '/nothing-here', remoteAddress: '10.1.2.3' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'no route GET /nothing-here' });
    for (const addr of ['10.1.2.3', '192.168.0.7', '::ffff:10.0.0.1', '2001:db8::1', '128.0.0.1']) {
      const res = await scrape(open, addr);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'no route GET /metrics' });
      expect(res.body).not.toContain('tollgate_inference');
    }
  });

  it('isLoopback knows 127.0.0.0/8, ::1 and IPv4-mapped loopback only', () => {
    expect(['127.0.0.1', '127.255.255.254', '::1', '::FFFF:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '1270.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1', '', undefined].some((a) => isLoopback(a))).toBe(false);
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  it('needs the bearer token, even from loopback', async () => {
    expect((await get(guarded.base, '/metrics')).status).toBe(401);
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, 'Bearer wrong', TOKEN, `Basic ${TOKEN}`]) {
      const res = await scrape(guarded, '127.0.0.1', auth);
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain('tollgate_inference');
    }
  });

  it('answers the scraper that sends it, from anywhere', async () => {
    const res = await scrape(guarded, '10.9.8.7', `Bearer ${TOKEN}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('tollgate_inference_request_success_total');
  });
});

describe('/metrics in production', () => {
  it('a same-host proxy (loopback peer) gets 401 without the token; the scraper with it gets metrics', async () => {
    const token = randomBytes(32).toString('base64url');
    const prod = await startServer({ repo: repo.dir, env: { NODE_ENV: 'production', JWT_SECRET: randomBytes(32).toString('base64url'), METRICS_TOKEN: token } });
    // A reverse proxy on this host: every request it forwards arrives from 127.0.0.1.
    const proxy = await startTcpProxy(new URL(prod.base));
    try {
      const viaProxy = await get(`http://127.0.0.1:${proxy.port}`, '/metrics');
      expect(viaProxy.status).toBe(401);
      expect(viaProxy.raw.toString()).not.toContain('tollgate_inference');
      const scraper = await fetch(`http://127.0.0.1:${proxy.port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(scraper.status).toBe(200);
      expect(await scraper.text()).toContain('tollgate_inference_request_success_total');
    } finally {
      await proxy.close();
      await prod.close();
    }
  });
});
