/**
 * The contract between the inference service (producer) and metering (consumer):
 * one UsageRecord per inference request, success or failure.
 */
import { z } from 'zod';

export const usageStatusSchema = z.enum(['ok', 'client_error', 'rejected', 'timeout', 'error']);
export type UsageStatus = z.infer<typeof usageStatusSchema>;

export const deviceSchema = z.enum(['cpu', 'cuda']);
export type Device = z.infer<typeof deviceSchema>;

/**
 * A string without lone surrogates: ClickHouse and the flusher's SQL binding reject broken
 * UTF-16, and one such record would stall a replica's flusher (review finding 2).
 */
const wellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();
/** A string of min..max UTF-16 units without lone surrogates; the usage import validates with it too. */
export const wellFormedText = (min: number, max: number) => z.string().min(min).max(max).refine(wellFormed, 'must be well-formed Unicode (no lone surrogates)');
const text = wellFormedText;

export const usageRecordSchema = z.object({
  /** Idempotency key: the client's OIP request `id` scoped to the tenant (successes only; a failure gets `<id>#<uuid>`), else a generated UUID. */
  eventId: text(1, 256),
  /** The request id as the client sent it (or generated); echoed in responses and logs. */
  requestId: text(1, 256),
  tenantId: z.string().uuid(),
  apiKeyId: z.string().uuid(),
  model: text(1, 128),
  modelVersion: text(0, 64),
  /** Wall-clock time the request arrived, epoch milliseconds. */
  ts: z.number().int().nonnegative(),
  status: usageStatusSchema,
  /** HTTP status answered to the client. */
  httpStatus: z.number().int().min(100).max(599),
  /** Batch items in this request (size of the batch dimension; 1 for unbatched models). */
  items: z.number().int().nonnegative(),
  inputBytes: z.number().int().nonnegative(),
  outputBytes: z.number().int().nonnegative(),
  queueUs: z.number().int().nonnegative(),
  computeUs: z.number().int().nonnegative(),
  /** Total items in the dynamic batch this request ran in (0 when it never ran). */
  batchSize: z.number().int().nonnegative(),
  /** This request's share of the batch's compute, by items (µs); what compute-ms billing uses. */
  billedComputeUs: z.number().int().nonnegative(),
  device: deviceSchema,
  traceId: z.string().max(32).default(''),
  tags: z.record(z.string().refine(wellFormed, 'tag keys must be well-formed Unicode'), z.string().refine(wellFormed, 'tag values must be well-formed Unicode')).default({}),
});
export type UsageRecord = z.infer<typeof usageRecordSchema>;

/**
 * Where the inference service hands each record. `record` resolves once the record is
 * durable (e.g. in the write-ahead log); the service answers the client only after that.
 * It rejects with an AppError('UNAVAILABLE') when the sink cannot accept work it could bill.
 */
/** A request refused before any work: counted per (tenant, minute, status, reason), no row of its own. */
export interface Rejection {
  tenantId: string;
  /** Arrival, epoch ms. */
  ts: number;
  httpStatus: number;
  /** A fixed word (not_found, rate_limited, ...), never client text. */
  reason: string;
}

export interface UsageSink {
  record(rec: UsageRecord): Promise<void>;
  /** Optional (added later): counts a refusal (issue 17.7); never throws. */
  rejected?(r: Rejection): void;
  /** True while the sink can accept records (the inference service answers 503 otherwise). */
  accepting(): boolean;
}

/** A sink that keeps records in memory, for tests and for running inference without metering. */
export class MemoryUsageSink implements UsageSink {
  readonly records: UsageRecord[] = [];
  readonly rejections: Rejection[] = [];
  async record(rec: UsageRecord): Promise<void> {
    this.records.push(usageRecordSchema.parse(rec));
  }
  rejected(r: Rejection): void {
    this.rejections.push(r);
  }
  accepting(): boolean {
    return true;
  }
}
