/** A real OTLP receiver on an ephemeral port, with real tenant-key authentication, for tests. */
import { createClickHouse, type ClickHouse } from '../../src/clickhouse/index.js';
import { createApiKeyAuthenticator } from '../../src/keys/index.js';
import { createLogger } from '../../src/shared/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createOtlpReceiver, type OtlpReceiver } from '../../otlp/src/index.js';
import { closeFactories, factoryDeps } from '../factories.js';

export interface TestReceiver {
  receiver: OtlpReceiver;
  /** …/v1/traces */
  url: string;
  ch: ClickHouse;
  close(): Promise<void>;
}

export async function startTestReceiver(opts: { env?: Record<string, string>; internalToken?: string } = {}): Promise<TestReceiver> {
  const config = loadConfig({ ...process.env, OTLP_FLUSH_INTERVAL_MS: '100', ...opts.env });
  const ch = createClickHouse(config);
  const auth = createApiKeyAuthenticator({ pools: factoryDeps().pools, redis: null, config });
  const receiver = createOtlpReceiver({
    config,
    logger: createLogger({ level: 'silent' }),
    clickhouse: ch,
    authenticate: (s, o) => auth.authenticate(s, o),
    ...(opts.internalToken ? { internalToken: opts.internalToken } : {}),
  });
  const { port } = await receiver.listen(0, '127.0.0.1');
  return {
    receiver,
    url: `http://127.0.0.1:${port}/v1/traces`,
    ch,
    async close() {
      await receiver.close();
      await auth.close();
      await ch.close();
      await closeFactories();
    },
  };
}
