/**
 * Stored answers for identical retries (issue 17.5): a served request with a client-chosen id
 * keeps its encoded answer in Redis for the idempotency window, bound to its fingerprint; an
 * identical retry is answered from it without running the model again. Answers larger than
 * `maxBytes` are not stored: their retries run again, and that compute is charged to the tenant's
 * compute quota (admission's ticket charges every run, retries included).
 *
 * Key: `<REDIS_PREFIX>:idem-resp:<tenant>:<id>`, a string: u32 length of a JSON head
 * `{ fp, contentType, headerLength? }`, the head, then the body bytes.
 */
import type { Redis } from '../shared/index.js';

export interface StoredResponse {
  contentType: string;
  /** Inference-Header-Content-Length of a binary-extension answer. */
  headerLength?: number;
  body: Buffer;
}

export interface ResponseStoreDeps {
  redis: Redis;
  prefix: string;
  windowSeconds: number;
  /** Answers larger than this are not stored (their retries are recomputed and charged). */
  maxBytes: number;
  /** Deadline for a lookup (ms): a slow Redis means recompute, not a stalled answer. */
  timeoutMs?: number;
}

export class ResponseStore {
  constructor(private readonly deps: ResponseStoreDeps) {}

  private key(tenantId: string, eventId: string): string {
    return `${this.deps.prefix}:idem-resp:${tenantId}:${eventId}`;
  }

  /** Stores the answer (best effort; false when too large or Redis failed). */
  async save(tenantId: string, eventId: string, fingerprint: string, r: StoredResponse): Promise<boolean> {
    if (r.body.length > this.deps.maxBytes) return false;
    const head = Buffer.from(JSON.stringify({ fp: fingerprint, contentType: r.contentType, ...(r.headerLength !== undefined ? { headerLength: r.headerLength } : {}) }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(head.length);
    try {
      await this.deps.redis.set(this.key(tenantId, eventId), Buffer.concat([len, head, r.body]), 'EX', this.deps.windowSeconds, 'NX');
      return true;
    } catch {
      return false;
    }
  }

  /** The stored answer of this very request (same fingerprint), or null. Never throws. */
  async load(tenantId: string, eventId: string, fingerprint: string): Promise<StoredResponse | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const got = await Promise.race([
        this.deps.redis.getBuffer(this.key(tenantId, eventId)),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), this.deps.timeoutMs ?? 200))),
      ]);
      if (!got || got.length < 4) return null;
      const n = got.readUInt32BE(0);
      const head = JSON.parse(got.subarray(4, 4 + n).toString('utf8')) as { fp?: unknown; contentType?: unknown; headerLength?: unknown };
      if (head.fp !== fingerprint || typeof head.contentType !== 'string') return null;
      return { contentType: head.contentType, ...(typeof head.headerLength === 'number' ? { headerLength: head.headerLength } : {}), body: got.subarray(4 + n) };
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
