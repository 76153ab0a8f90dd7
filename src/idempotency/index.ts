/**
 * Idempotency: the one owner of "is this (tenant, request id) new, a retry, or a conflict".
 * Admission binds an id to its request (`IdempotencyMarks`), metering records which WAL record
 * delivered it (`markDeliveries`), both on one Redis key per id kept for IDEMPOTENCY_WINDOW_SECONDS,
 * and both decide with `decide`. See README.md.
 */
export { decide, NO_FINGERPRINT, type Verdict } from './decision.js';
export { idempotencyKeys, type IdempotencyKeys } from './keys.js';
export { IdempotencyMarks, type IdempotencyMarksDeps, type MarkListener, type QueuedMark, type RedisRunner } from './marks.js';
export { markDeliveries, type Delivery, type DeliveryCandidate } from './deliveries.js';
export { ResponseStore, type ResponseStoreDeps, type StoredResponse } from './responses.js';
