/**
 * Project `chdb` only (vitest.config.ts): before the test file loads, point this test process at
 * an embedded current ClickHouse (chDB) of its own — `CLICKHOUSE_URL=chdb:<run state>/chdb/<pid>-<rand>`,
 * removed with the run's state folder — and migrate the run's database into it, as the global
 * setup does on the server. The migration's clients are closed again, so child processes the test
 * starts (the CLI, SIGKILLed servers) can open the same directory while this process is idle.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { migrateClickHouse } from '../../src/clickhouse/index.js';

const base = process.env.TOLLGATE_STATE_DIR ?? path.resolve('.state/test');
process.env.CLICKHOUSE_URL = `chdb:${path.join(base, 'chdb', `${process.pid}-${randomBytes(3).toString('hex')}`)}`;
await migrateClickHouse({ config: loadConfig() });
