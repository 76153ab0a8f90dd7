// The OTLP receiver in its own process (as the `otlp` role would run), for bench/usage-inference.mjs.
// Env: DIST_DIR-independent: imports .state/bench-dist; OTLP_INTERNAL_TOKEN, CLICKHOUSE_DATABASE. Prints "READY <port>".
import { load } from './usage-lib.mjs';

const { loadConfig } = await load('src/config/index.js');
const { createLogger } = await load('src/shared/logger.js');
const { createClickHouse } = await load('src/clickhouse/index.js');
const { createOtlpReceiver } = await load('otlp/src/index.js');
const config = loadConfig(process.env);
const clickhouse = createClickHouse(config);
const receiver = createOtlpReceiver({ config, logger: createLogger({ level: 'silent' }), clickhouse, authenticate: async () => null });
const { port } = await receiver.listen(0, '127.0.0.1');
process.stdout.write(`READY ${port}\n`);
process.on('SIGTERM', async () => {
  await receiver.close();
  await clickhouse.close();
  process.exit(0);
});
