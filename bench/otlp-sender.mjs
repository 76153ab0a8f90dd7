// Load generator for bench/otlp-receiver.mjs, in its own process so the receiver's process does
// only receiver work. Pre-encodes 16 request bodies (512 spans each), prints READY, waits for a
// line on stdin, then sends REQUESTS bodies with CONCURRENCY keep-alive connections and prints
// "DONE <spans> <503 retries>". Env: URL, TOKEN, ENCODING (protobuf|json), REQUESTS, CONCURRENCY.
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { load } from './usage-lib.mjs';

const { loadOtlpTypes } = await load('otlp/src/index.js');
const types = loadOtlpTypes();
const PER_REQUEST = 512;
const tenants = Array.from({ length: 8 }, () => randomUUID());
const encoding = process.env.ENCODING ?? 'protobuf';

function request(i) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const traceId = randomBytes(16);
  const spans = Array.from({ length: PER_REQUEST }, (_, j) => ({
    traceId,
    spanId: randomBytes(8),
    parentSpanId: j ? randomBytes(8) : undefined,
    name: j % 2 ? 'oip.infer' : 'session.run',
    kind: 2,
    startTimeUnixNano: String(now + BigInt(j * 1000)),
    endTimeUnixNano: String(now + BigInt(j * 1000 + 250_000)),
    attributes: [
      { key: 'tenant.id', value: { stringValue: tenants[(i + j) % tenants.length] } },
      { key: 'tollgate.api_key.id', value: { stringValue: '00000000-0000-4000-8000-00000000000a' } },
      { key: 'model', value: { stringValue: 'mlp-demo' } },
      { key: 'model.version', value: { stringValue: '1' } },
      { key: 'batch.size', value: { intValue: 16 } },
      { key: 'queue.us', value: { intValue: 120 + j } },
      { key: 'compute.us', value: { intValue: 900 + j } },
      { key: 'device', value: { stringValue: 'cpu' } },
    ],
    status: { code: 1 },
  }));
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tollgate' } }] }, scopeSpans: [{ scope: { name: 'tollgate', version: '0.1.0' }, spans }] }] };
}

const hex = (b) => (b ? Buffer.from(b).toString('hex') : undefined);
function encode(req) {
  if (encoding === 'protobuf') return Buffer.from(types.request.encode(types.request.fromObject(req)).finish());
  const rs = req.resourceSpans.map((r) => ({ ...r, scopeSpans: r.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.map((s) => ({ ...s, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId) })) })) }));
  return Buffer.from(JSON.stringify({ resourceSpans: rs }));
}

const bodies = Array.from({ length: 16 }, (_, i) => encode(request(i)));
const url = new URL(process.env.URL);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(process.env.CONCURRENCY ?? 4) });
const headers = { 'content-type': encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json', authorization: `Bearer ${process.env.TOKEN}` };
function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { ...headers, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

process.stdout.write('READY\n');
process.stdin.once('data', async () => {
  const requests = Number(process.env.REQUESTS);
  let next = 0;
  let retried = 0;
  await Promise.all(Array.from({ length: Number(process.env.CONCURRENCY ?? 4) }, async () => {
    while (next < requests) {
      const body = bodies[next++ % bodies.length];
      for (;;) {
        const status = await post(body);
        if (status === 200) break;
        if (status !== 503) throw new Error(`receiver answered ${status}`);
        retried++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }));
  process.stdout.write(`DONE ${requests * PER_REQUEST} ${retried}\n`);
  agent.destroy();
  process.exit(0);
});
