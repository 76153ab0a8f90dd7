/**
 * Background jobs: the job contracts (name → zod payload schema) and the one bull adapter.
 * Processors are plain functions in the module that owns the work; the worker role
 * (`app/roles.ts`) registers them.
 */
export { jobContracts, parseJobPayload, type JobName, type JobPayload, type JobProcessor } from './contracts.js';
export { createJobQueues, jobNames, jobQueueStats, type JobQueues, type JobQueueStats } from './bull-queues.js';
