/** pino JSON logs; every line carries the active trace and span ids when there is one. */
import { pino, type Logger } from 'pino';
import { trace, isSpanContextValid } from '@opentelemetry/api';

export type { Logger };

export function createLogger(opts: { level: string; name?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      name: opts.name ?? 'tollgate',
      base: { pid: process.pid },
      mixin() {
        const span = trace.getActiveSpan();
        if (!span) return {};
        const ctx = span.spanContext();
        return isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
    },
    opts.destination,
  );
}
