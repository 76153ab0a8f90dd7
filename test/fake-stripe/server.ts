/**
 * A local fake Stripe API for tests, driven by the real `stripe` SDK through its host/port/protocol
 * options. It implements what Tollgate uses the way Stripe documents it:
 * - idempotency (https://docs.stripe.com/api/idempotent_requests): the first result of a POST with
 *   an `Idempotency-Key` — success or error, once the endpoint ran — is replayed for the same key
 *   (`Idempotent-Replayed: true`); the same key with other parameters or another endpoint is 400
 *   `idempotency_error`; a key still in flight is 409; validation failures are not saved; keys are
 *   pruned 24 h after first use (test clock), after which the key makes a new object;
 * - parameter validation (unknown/missing/non-integer parameters), error shapes and statuses;
 * - lists (newest first, `starting_after`), search with an indexing lag, events and signed webhook
 *   deliveries (`stripe.webhooks.generateTestHeaderString`);
 * - fault injection: 500, 429 with Retry-After, a timeout (no answer), and a request that commits
 *   but whose answer is lost (connection dropped after the write, or held unanswered: a client
 *   that dies waiting — the kill test — leaves a committed write it never heard of).
 * Every request is recorded (method, path, params, idempotency key, status, replayed, fault).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { FakeStripeError, invalid } from './errors.js';
import { FormError, parseForm, type FormObject } from './form.js';
import { validate, type Parsed } from './params.js';
import { parseQuery, matches } from './search.js';
import { FakeStripeState, newId, type Obj } from './state.js';
import { routes, type Route } from './routes.js';

export const FAKE_SECRET_KEY = 'sk_test_tollgate_fake_0123456789';
export const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600;

export type FaultKind = 'error500' | 'rate_limit' | 'timeout' | 'drop_after_commit' | 'hang_after_commit';

export interface Fault {
  kind: FaultKind;
  method?: string;
  /** Matches the request path (string: exact path; RegExp: tested). */
  path?: string | RegExp;
  /** How many matching requests it hits (default 1). */
  times?: number;
  /** 429: the Retry-After header, seconds. */
  retryAfter?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  params: Parsed;
  idempotencyKey: string | null;
  stripeVersion: string | null;
  status: number | null;
  replayed: boolean;
  fault: FaultKind | null;
  at: number;
}

export interface Delivery {
  eventId: string;
  type: string;
  status: number | null;
  error?: string;
}

interface IdemRecord {
  method: string;
  path: string;
  paramsHash: string;
  createdAt: number;
  inFlight: boolean;
  status?: number;
  body?: string;
  requestId?: string;
}

export interface FakeStripeOptions {
  /** Seconds after creation before an object shows up in search (Stripe: "under 1 minute"). */
  searchLagSeconds?: number;
  /** Events go to this URL signed with `secret` as they happen (unless autoDeliver is false). */
  webhook?: { url: string; secret: string; autoDeliver?: boolean };
}

export interface FakeStripe {
  readonly url: string;
  readonly state: FakeStripeState;
  readonly requests: RecordedRequest[];
  readonly events: Obj[];
  readonly deliveries: Delivery[];
  /** SDK options that point the real `stripe` client here. */
  sdkOptions(): { host: string; port: number; protocol: 'http' };
  /** A real SDK client against the fake. */
  client(opts?: { maxNetworkRetries?: number; timeout?: number }): Stripe;
  now(): number;
  /** Moves the fake's clock forward (idempotency key expiry, search lag, webhook timestamps). */
  advance(seconds: number): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  setWebhook(webhook: FakeStripeOptions['webhook']): void;
  /** Signs and posts one event (again); `timestamp`/`secret`/`payload` override for bad-signature tests. Resolves to the HTTP status. */
  deliver(eventId: string, opts?: { timestamp?: number; secret?: string; payload?: string }): Promise<number>;
  /** Waits until every queued automatic delivery has been attempted. */
  settle(): Promise<void>;
  /** Test hooks for what a customer does outside the API: a payment attempt's outcome. */
  attemptPayment(invoiceId: string, outcome: 'succeed' | 'fail'): Obj;
  close(): Promise<void>;
}

export async function startFakeStripe(opts: FakeStripeOptions = {}): Promise<FakeStripe> {
  let offset = 0;
  const now = (): number => Math.floor(Date.now() / 1000) + offset;
  const events: Obj[] = [];
  const deliveries: Delivery[] = [];
  const requests: RecordedRequest[] = [];
  const faults: Array<Fault & { left: number }> = [];
  const idem = new Map<string, IdemRecord>();
  const held = new Set<Socket>();
  let webhook = opts.webhook;
  let deliveryChain: Promise<void> = Promise.resolve();
  let baseUrl = '';

  const deliver = async (eventId: string, o: { timestamp?: number; secret?: string; payload?: string } = {}): Promise<number> => {
    const ev = events.find((e) => e.id === eventId);
    if (!ev) throw new Error(`no event ${eventId}`);
    if (!webhook) throw new Error('no webhook endpoint configured');
    const payload = o.payload ?? JSON.stringify(ev, null, 2);
    // Signed at the wall-clock time of delivery (the receiver checks its own clock), not the fake's moved clock.
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: o.secret ?? webhook.secret, timestamp: o.timestamp ?? Math.floor(Date.now() / 1000) });
    try {
      const res = await fetch(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' }, body: payload });
      await res.arrayBuffer();
      deliveries.push({ eventId, type: String(ev.type), status: res.status });
      return res.status;
    } catch (err) {
      deliveries.push({ eventId, type: String(ev.type), status: null, error: (err as Error).message });
      return 0;
    }
  };

  const emit = (type: string, object: Obj): void => {
    const ev: Obj = {
      id: newId('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: webhook ? 1 : 0,
      request: { id: currentRequestId, idempotency_key: currentIdemKey },
      type,
      context: undefined,
    } as Obj;
    delete ev.context;
    events.push(ev);
    if (webhook && webhook.autoDeliver !== false) deliveryChain = deliveryChain.then(() => deliver(ev.id).then(() => undefined));
  };
  let currentRequestId: string | null = null;
  let currentIdemKey: string | null = null;

  const state = new FakeStripeState({ now }, emit, () => baseUrl);

  const takeFault = (method: string, path: string): Fault | undefined => {
    const i = faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || (typeof f.path === 'string' ? f.path === path : f.path.test(path))));
    if (i < 0) return undefined;
    const f = faults[i]!;
    if (--f.left <= 0) faults.splice(i, 1);
    return f;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: { type: 'api_error', message: `fake stripe bug: ${(err as Error).message}` } }, 'req_bug');
      });
    });
  });
  server.on('connection', (s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const requestId = `req_${randomBytes(7).toString('hex')}`;
    const idemKey = method === 'POST' ? ((req.headers['idempotency-key'] as string | undefined) ?? null) : null;
    const rec: RecordedRequest = { method, path: url.pathname, params: {}, idempotencyKey: idemKey, stripeVersion: (req.headers['stripe-version'] as string | undefined) ?? null, status: null, replayed: false, fault: null, at: now() };
    requests.push(rec);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      rec.status = status;
      send(res, status, payload, requestId, headers);
    };
    try {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${FAKE_SECRET_KEY}`) {
        reply(401, { error: { type: 'invalid_request_error', message: `Invalid API Key provided: ${auth.replace(/^Bearer /, '').slice(0, 8)}****` } });
        return;
      }
      try {
        rec.params = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body); // refined after validation
      } catch {
        // reported below
      }
      const fault = takeFault(method, url.pathname);
      if (fault) rec.fault = fault.kind;
      if (fault?.kind === 'error500') return reply(500, { error: { type: 'api_error', message: 'An unknown error occurred (injected by the fake).' } });
      if (fault?.kind === 'rate_limit') {
        return reply(429, { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.' } }, { 'retry-after': String(fault.retryAfter ?? 1) });
      }
      if (fault?.kind === 'timeout') return; // never answered; the socket is destroyed on close()

      let form: FormObject;
      try {
        form = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body);
      } catch (err) {
        if (err instanceof FormError) throw invalid(err.message);
        throw err;
      }
      const match = routes.map((r) => ({ r, m: r.method === method ? r.pattern.exec(url.pathname) : null })).find((x) => x.m);
      if (!match) throw new FakeStripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`);
      const params = validate(match.r.spec, form);
      rec.params = params;

      // Idempotency (POST only): replay, mismatch, in flight, expiry.
      let record: IdemRecord | undefined;
      if (idemKey !== null) {
        if (idemKey.length > 255) throw invalid('Idempotency keys can be at most 255 characters long.', undefined, 'Idempotency-Key');
        const existing = idem.get(idemKey);
        if (existing && now() - existing.createdAt >= IDEMPOTENCY_KEY_TTL_SECONDS) idem.delete(idemKey);
        const prior = idem.get(idemKey);
        const hash = paramsHash(params);
        if (prior) {
          if (prior.method !== method || prior.path !== url.pathname || prior.paramsHash !== hash) {
            throw new FakeStripeError(400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`);
          }
          if (prior.inFlight) throw new FakeStripeError(409, 'idempotency_error', 'There is currently another in-progress request using this Stripe Idempotency Key (that probably means you submitted twice, and the other request is still going through). Please try again later.');
          rec.replayed = true;
          rec.status = prior.status!;
          send(res, prior.status!, undefined, prior.requestId!, { 'idempotent-replayed': 'true', 'original-request': prior.requestId!, 'idempotency-key': idemKey }, prior.body);
          return;
        }
        record = { method, path: url.pathname, paramsHash: hash, createdAt: now(), inFlight: true };
        idem.set(idemKey, record);
      }

      let status = 200;
      let payload: unknown;
      currentRequestId = requestId;
      currentIdemKey = idemKey;
      try {
        payload = match.r.run({ state, params, m: match.m!, now, search: searchIn, list: listOf, events });
      } catch (err) {
        if (!(err instanceof FakeStripeError)) throw err;
        status = err.status;
        payload = err.body(requestId);
      } finally {
        currentRequestId = null;
        currentIdemKey = null;
      }
      const text = JSON.stringify(payload, null, 2);
      if (record) Object.assign(record, { inFlight: false, status, body: text, requestId });
      if (fault?.kind === 'hang_after_commit') {
        rec.status = status; // the write happened; the answer never comes (the client times out, or dies waiting)
        return;
      }
      if (fault?.kind === 'drop_after_commit') {
        rec.status = status;
        req.socket.destroy(); // the write happened; the answer is lost
        return;
      }
      rec.status = status;
      send(res, status, undefined, requestId, idemKey ? { 'idempotency-key': idemKey } : {}, text);
    } catch (err) {
      if (!(err instanceof FakeStripeError)) throw err;
      // Validation and idempotency errors: the endpoint never ran, nothing is saved for the key.
      reply(err.status, err.body(requestId));
    }
  }

  function searchIn(objects: Iterable<Obj>, query: string): Obj[] {
    const clauses = parseQuery(query);
    const lag = opts.searchLagSeconds ?? 60;
    return [...objects].filter((o) => !o.deleted && now() - o.created >= lag && matches(o, clauses)).sort((a, b) => state.seqOf(b.id) - state.seqOf(a.id));
  }

  function listOf(objects: Obj[], params: Parsed, url: string): Record<string, unknown> {
    const sorted = objects.filter((o) => !o.deleted).sort((a, b) => state.seqOf(b.id) - state.seqOf(a.id));
    const limit = Math.min(Math.max(Number(params.limit ?? 10), 1), 100);
    let start = 0;
    if (params.starting_after) {
      const i = sorted.findIndex((o) => o.id === params.starting_after);
      if (i < 0) throw invalid(`No such object: '${String(params.starting_after)}'`, 'resource_missing', 'starting_after');
      start = i + 1;
    }
    const data = sorted.slice(start, start + limit);
    return { object: 'list', data, has_more: start + limit < sorted.length, url };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    state,
    requests,
    events,
    deliveries,
    sdkOptions: () => ({ host: '127.0.0.1', port, protocol: 'http' }),
    client: (o = {}) => new Stripe(FAKE_SECRET_KEY, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: o.maxNetworkRetries ?? 2, timeout: o.timeout ?? 5_000 }),
    now,
    advance(seconds) {
      offset += seconds;
    },
    inject(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    setWebhook(w) {
      webhook = w;
    },
    deliver,
    async settle() {
      let last: Promise<void> | undefined;
      while (last !== deliveryChain) {
        last = deliveryChain;
        await last;
      }
    },
    attemptPayment: (invoiceId, outcome) => state.attemptPayment(invoiceId, outcome),
    async close() {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function paramsHash(params: Parsed): string {
  return createHash('sha256').update(canonical(params)).digest('hex');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function send(res: http.ServerResponse, status: number, payload: unknown, requestId: string, headers: Record<string, string> = {}, text?: string): void {
  const body = text ?? JSON.stringify(payload, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId, 'stripe-version': Stripe.API_VERSION, ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export type { Route };
