/**
 * POST /webhooks/stripe on the API role: hands the raw request bytes and the Stripe-Signature
 * header to src/payments, which verifies and applies the event. The route lives in its own
 * fastify context whose only body parser keeps the bytes untouched (a signature is over the
 * exact payload; re-serialised JSON would not verify). No API credentials: Stripe's signature is
 * the authentication.
 */
import type { FastifyInstance } from 'fastify';
import { receiveStripeWebhook, type WebhookDeps } from '../../../src/payments/index.js';

/** Stripe events embed their object; an invoice with 250 lines is well over fastify's default. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

export async function registerStripeWebhookRoute(app: FastifyInstance, deps: WebhookDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_EVENT_BYTES }, (_req, body, done) => done(null, body));
    scope.post('/webhooks/stripe', { bodyLimit: MAX_EVENT_BYTES }, async (request, reply) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['stripe-signature'];
      const result = await receiveStripeWebhook(deps, { rawBody, signature: typeof header === 'string' ? header : undefined });
      return reply.code(result.status).type('application/json').send(result.body);
    });
  });
}
