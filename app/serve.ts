/**
 * `tollgate serve`: starts the requested roles in the foreground and stops them cleanly on
 * SIGINT/SIGTERM (inference drains accepted requests, the usage WAL drains to ClickHouse).
 * A second signal (after a grace second) exits at once; what the WAL holds is replayed on the
 * next start. The grace second matters: Ctrl-C under `npm run` delivers SIGINT twice (the
 * terminal signals the process group and npm forwards its own copy).
 */
import type { Config } from '../src/config/index.js';
import { startStack, type Role } from './roles.js';

export async function runServe(opts: { config: Config; roles: readonly Role[] }): Promise<void> {
  const stack = await startStack(opts);
  const { logger } = stack.infra;
  for (const r of stack.roles) if (r.url) process.stderr.write(`tollgate ${r.role} listening on ${r.url}\n`);
  await new Promise<void>((resolve) => {
    let stoppingSince = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stoppingSince && Date.now() - stoppingSince < 1_000) return;
      if (stoppingSince) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        process.exit(130);
      }
      stoppingSince = Date.now();
      logger.info({ signal }, 'shutting down: draining roles');
      stack.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
