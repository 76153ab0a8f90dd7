/**
 * One webhook POST: to the checked address only (the lookup is pinned), no redirects followed
 * (a 3xx is a failed attempt), bounded time and response size.
 */
import http from 'node:http';
import https from 'node:https';
import type { CheckedTarget } from './ssrf.js';

export interface SendResult {
  status: number | null;
  latencyMs: number;
  error: string | null;
}

export async function postWebhook(target: CheckedTarget, body: string, headers: Record<string, string>, opts: { timeoutMs: number; maxResponseBytes: number }): Promise<SendResult> {
  const started = Date.now();
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const done = (r: Omit<SendResult, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...r, latencyMs: Date.now() - started });
    };
    const req = mod.request(
      target.url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Tollgate-Webhooks/1' },
        // connect to the address that passed the SSRF check, whatever DNS says now
        lookup: (_host, options, cb) => {
          if ((options as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: target.address, family: target.family }]);
          else cb(null, target.address, target.family);
        },
        timeout: opts.timeoutMs,
      },
      (res) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxResponseBytes) {
            res.destroy();
            done({ status: res.statusCode ?? null, error: `response larger than ${opts.maxResponseBytes} bytes` });
          }
        });
        res.on('end', () => done({ status: res.statusCode ?? null, error: null }));
        res.on('error', (err) => done({ status: res.statusCode ?? null, error: err.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    timer.unref();
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', (err) => done({ status: null, error: err.message }));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}
