/** pino JSON logs; every line carries the active trace and span ids when there is one. */
import { createRequire } from 'node:module';
import type { pino as Pino, Logger } from 'pino';
import { trace, isSpanContextValid } from '@opentelemetry/api';

export type { Logger };

const require = createRequire(import.meta.url);

export function createLogger(opts: { level: string; name?: string; destination?: Pino.DestinationStream }): Logger {
  // Loaded on the first logger, not on import: pino is ~30 CommonJS modules, and the CLI imports
  // src/shared (errors, Redis) without ever creating a logger — its start-up should not pay for it.
  const { pino } = require('pino') as typeof import('pino');
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
