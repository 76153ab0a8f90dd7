// Load generator for bench/noisy-neighbour.mjs (runs in its own process so its CPU does not sit on
// the server's event loop). argv[2]: JSON { base, durationMs, a, b }; prints one JSON line of results.
//   a: { secret, items, mode: 'off' | 'closed' | 'open', concurrency?, ratePerSec? }   the flooding tenant
//   b: { secret, items, ratePerSec, startAfterMs } | null                                     the steady tenant
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const url = new URL('/v2/models/mlp-heavy/infer', cfg.base);
// One connection pool per tenant, as two separate clients would have: A's flood queues on its own
// sockets (at most 128 connections) instead of swamping the server's accept backlog for everyone.
const agents = { a: new http.Agent({ keepAlive: true, maxSockets: 128 }), b: new http.Agent({ keepAlive: true, maxSockets: 64 }) };

function body(items) {
  const data = Array.from({ length: items * 16 }, (_, i) => ((i * 7919) % 1000) / 1000);
  return Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [items, 16], datatype: 'FP32', data }] }));
}

function send(agent, secret, payload) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, 'content-length': payload.length } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    req.end(payload);
  });
}

/** Sends at a fixed rate (open loop): the sender does not wait for answers; resolves when sending stops (`drain`: once answered). */
function openLoop(ratePerSec, durationMs, fn, drain, maxOutstanding = 3000) {
  return new Promise((resolve) => {
    const start = Date.now();
    let sent = 0;
    let outstanding = 0;
    const pending = [];
    const timer = setInterval(() => {
      const elapsed = Date.now() - start;
      if (elapsed >= durationMs) {
        clearInterval(timer);
        if (drain) Promise.all(pending).then(() => resolve(sent));
        else resolve(sent);
        return;
      }
      const due = Math.floor((ratePerSec * elapsed) / 1000);
      while (sent < due && outstanding < maxOutstanding) {
        sent++;
        outstanding++;
        pending.push(fn().finally(() => outstanding--));
      }
      if (sent < due) sent = due; // over the cap: count as not sent (the generator is saturated)
    }, 1);
  });
}

const result = { a: { ok: 0, rejected: 0, other: 0, items: 0, statuses: {} }, b: null };
const aBody = body(cfg.a.items);
const countA = (r) => {
  result.a.statuses[r.status] = (result.a.statuses[r.status] ?? 0) + 1;
  if (r.status === 200) {
    result.a.ok++;
    result.a.items += cfg.a.items;
  } else if (r.status === 429 || r.status === 503) result.a.rejected++;
  else result.a.other++;
};

let stopA = false;
const aDone =
  cfg.a.mode === 'closed'
    ? Promise.all(Array.from({ length: cfg.a.concurrency }, async () => {
        while (!stopA) countA(await send(agents.a, cfg.a.secret, aBody));
      }))
    : cfg.a.mode === 'open'
      ? openLoop(cfg.a.ratePerSec, cfg.durationMs, () => send(agents.a, cfg.a.secret, aBody).then(countA), false)
      : Promise.resolve();

if (cfg.b) {
  await new Promise((r) => setTimeout(r, cfg.b.startAfterMs));
  const bBody = body(cfg.b.items);
  const lat = [];
  const b = { ok: 0, rejected: 0, other: 0, statuses: {} };
  const bStart = Date.now();
  const bDuration = cfg.durationMs - cfg.b.startAfterMs;
  await openLoop(cfg.b.ratePerSec, bDuration, () =>
    send(agents.b, cfg.b.secret, bBody).then((r) => {
      b.statuses[r.status] = (b.statuses[r.status] ?? 0) + 1;
      if (r.status === 200) {
        b.ok++;
        lat.push(r.ms);
      } else if (r.status === 429 || r.status === 503) b.rejected++;
      else b.other++;
    }),
    true,
  );
  const seconds = (Date.now() - bStart) / 1000;
  lat.sort((x, y) => x - y);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  result.b = { ...b, seconds, throughput: b.ok / seconds, p50: pct(0.5), p99: pct(0.99), max: lat[lat.length - 1] ?? NaN };
}
if (cfg.a.mode === 'closed') setTimeout(() => (stopA = true), cfg.b ? 0 : cfg.durationMs);
await aDone;
result.a.seconds = cfg.durationMs / 1000;
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0); // A's last requests may still be queued: not waited for
