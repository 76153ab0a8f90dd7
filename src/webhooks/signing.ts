/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`
 * (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`,
 * one space-separated signature per live secret. Secrets are `whsec_<base64 of 24 random bytes>`;
 * the key is the decoded bytes.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';

export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(24).toString('base64');
}

function keyOf(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new RangeError('webhook secrets start with whsec_');
  return Buffer.from(secret.slice(PREFIX.length), 'base64');
}

export function signPayload(secret: string, msgId: string, timestampSeconds: number, body: string): string {
  return 'v1,' + createHmac('sha256', keyOf(secret)).update(`${msgId}.${timestampSeconds}.${body}`).digest('base64');
}

/** The three headers for one send; every secret in `secrets` (current first, then one being rotated out) signs. */
export function webhookHeaders(q: { msgId: string; timestampSeconds: number; body: string; secrets: readonly string[] }): Record<string, string> {
  return {
    'webhook-id': q.msgId,
    'webhook-timestamp': String(q.timestampSeconds),
    'webhook-signature': q.secrets.map((s) => signPayload(s, q.msgId, q.timestampSeconds, q.body)).join(' '),
  };
}
