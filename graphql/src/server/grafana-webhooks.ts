/**
 * POST /webhooks/grafana on the API role: Grafana's webhook contact point posts alert
 * notifications here; src/alerts authenticates (bearer or HMAC over the raw bytes) and maps
 * tenant-labelled alerts into the tenants' feeds. No API credentials: the contact point's are.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../../src/config/index.js';
import type { PgPools } from '../../../src/db/index.js';
import { receiveGrafanaWebhook } from '../../../src/alerts/index.js';

const MAX_BYTES = 2 * 1024 * 1024;

export async function registerGrafanaWebhookRoute(app: FastifyInstance, deps: { pools: PgPools; config: Config }): Promise<void> {
  const settings = { token: deps.config.GRAFANA_WEBHOOK_TOKEN, hmacSecret: deps.config.GRAFANA_WEBHOOK_HMAC_SECRET };
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BYTES }, (_req, body, done) => done(null, body));
    scope.post('/webhooks/grafana', { bodyLimit: MAX_BYTES }, async (request, reply) => {
      const header = (name: string) => {
        const v = request.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const r = await receiveGrafanaWebhook(
        { pools: deps.pools, settings },
        { rawBody, authorization: header('authorization'), signature: header('x-grafana-alerting-signature'), timestamp: header('x-grafana-alerting-timestamp') },
      );
      return reply.code(r.status).type('application/json').send(r.body);
    });
  });
}
