/**
 * Tenant webhooks (Standard Webhooks): endpoints managed by tenant admins, events recorded as
 * deliveries and attempted with retries as bull jobs, SSRF-checked targets, a delivery log.
 */
export { generateWebhookSecret, signPayload, webhookHeaders } from './signing.js';
export { checkWebhookTarget, isForbiddenAddress, parseWebhookUrl, type CheckedTarget } from './ssrf.js';
export {
  createEndpoint,
  listEndpoints,
  rotateEndpointSecret,
  disableEndpoint,
  getEndpoint,
  listDeliveries,
  webhookEventTypes,
  ROTATION_OVERLAP_MS,
  MAX_ENDPOINTS_PER_TENANT,
  type WebhookEndpoint,
  type WebhookDelivery,
  type WebhookAttempt,
  type WebhookEventType,
} from './repo.js';
export { publishWebhookEvent, attemptDelivery, sweepDeliveries, messageIdFor, retrySchedule, DISABLE_AFTER_FAILING_MS, type DeliveryDeps, type WebhookEvent, type WebhookSettings, type AttemptOutcome } from './deliver.js';
export { publishAlertTransitions } from './events.js';
export { registerEndpoint, recordTestEvent } from './manage.js';
