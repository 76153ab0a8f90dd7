/** Object types of the API, split by area under types/. */
export * from './types/tenant.js';
export * from './types/keys.js';
export * from './types/quota.js';
export * from './types/usage.js';
export * from './types/trace.js';
export * from './types/invoice.js';
export * from './types/alert.js';
export * from './types/webhook.js';
