/**
 * Every background job's name and payload schema, in one place. Producers and processors
 * both go through these schemas, so a payload that does not match is refused at the edge
 * of the queue rather than half-processed.
 */
import { z } from 'zod';

export const jobContracts = {
  /** Drop ClickHouse partitions older than each table's retention (18.16 has no TTL). */
  'usage.retention': z.object({}).strict(),
  /** Recompute this period's quota usage from ClickHouse and correct the Redis counters. */
  'quotas.reconcile': z.object({}).strict(),
  /** Suspend past-due tenants past their plan's dunning days; lift what has been paid (src/payments). */
  'payments.dunning': z.object({}).strict(),
  /** Send finalized invoices to Stripe: one (`invoiceId`), or every one not yet synced (the sweep). */
  'payments.stripe-sync': z.object({ invoiceId: z.string().uuid().optional() }).strict(),
  /** Period close: invoices of ended periods, resumed generation, draft refresh and finalization after grace (src/invoices). */
  'billing.close': z.object({}).strict(),
  /** Score every rollup bucket not yet scored, open/resolve anomaly alerts (src/anomaly-scan). */
  'anomaly.scan': z.object({}).strict(),
  /** One attempt of a webhook delivery (src/webhooks); retries are delayed jobs of the same name. */
  'webhooks.deliver': z.object({ deliveryId: z.string().uuid() }).strict(),
  /** Enqueue due webhook deliveries whose job was lost (or that the CLI recorded). */
  'webhooks.sweep': z.object({}).strict(),
} as const;

export type JobName = keyof typeof jobContracts;
export type JobPayload<N extends JobName> = z.infer<(typeof jobContracts)[N]>;

/** A processor is a plain async function of the parsed payload: it never sees the queue library. */
export type JobProcessor<N extends JobName> = (payload: JobPayload<N>, meta: { jobId: string; attempt: number }) => Promise<unknown>;

export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  return jobContracts[name].parse(data) as JobPayload<N>;
}
