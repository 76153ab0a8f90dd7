/**
 * pino logs; every line carries the active trace and span ids when there is one.
 * JSON for machines (production, pipes, log shippers); pino-pretty's one-line-per-event text for a
 * person at a terminal (see resolveLogFormat).
 */
import { createRequire } from 'node:module';
import type { pino as Pino, Logger } from 'pino';
import { trace, isSpanContextValid } from '@opentelemetry/api';

export type { Logger };

const require = createRequire(import.meta.url);

export type LogFormat = 'json' | 'pretty';
export type LogFormatSetting = LogFormat | 'auto';

/** `auto`: human-readable text on a terminal outside production, JSON otherwise (piped, redirected, production). */
export function resolveLogFormat(setting: LogFormatSetting, where: { isTTY: boolean; production: boolean }): LogFormat {
  if (setting !== 'auto') return setting;
  return where.isTTY && !where.production ? 'pretty' : 'json';
}

/** pino-pretty as a synchronous stream (to stdout, or to `destination`), so no line is lost on exit. */
function prettyStream(destination: Pino.DestinationStream | undefined, colorize: boolean): Pino.DestinationStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  const build = (pretty as unknown as { default?: typeof pretty }).default ?? pretty;
  return build({ sync: true, colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', ...(destination ? { destination: destination as never } : {}) });
}

export function createLogger(opts: { level: string; name?: string; destination?: Pino.DestinationStream; format?: LogFormat }): Logger {
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
    opts.format === 'pretty' ? prettyStream(opts.destination, !opts.destination) : opts.destination,
  );
}
