/** The local fake Stripe (see README.md): start it, point the real SDK at it, inspect what it received. */
export { startFakeStripe, FAKE_SECRET_KEY, IDEMPOTENCY_KEY_TTL_SECONDS, type FakeStripe, type FakeStripeOptions, type Fault, type FaultKind, type RecordedRequest, type Delivery } from './server.js';
export { MAX_INVOICE_ITEMS, type Obj } from './state.js';
export { fixturesPath } from './fixtures.js';
