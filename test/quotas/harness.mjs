// A replica for the multi-process tests: imports the compiled (transpiled) quotas module (path in QUOTAS_DIST).
// MODE=quota|rate: waits for "go" on stdin, then hammers admission for one tenant and prints what it was granted.
// MODE=serve: answers commands on stdin, one JSON line each on stdout (with the command's id):
//   admit <id> <tenant> <key> <n>  n simultaneous admits; their tickets are held -> {"id","statuses","remaining","limits"}
//   release <id>                   releases the tickets of admit <id>            -> {"id","released"}
import { createInterface } from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.env.QUOTAS_DIST;
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { loadConfig } = await load('src/config/index.js');
const { createRedis } = await load('src/shared/redis.js');
const { createPgPools } = await load('src/db/pools.js');
const { createLogger } = await load('src/shared/logger.js');
const { createAdmission } = await load('src/quotas/index.js');

const config = loadConfig();
const redis = createRedis(config);
const pools = createPgPools(config, { applicationName: 'quotas-harness' });
const admission = createAdmission({ config, redis, pools, logger: createLogger({ level: 'silent' }) });
const { TENANT_ID: tenantId, KEY_ID: apiKeyId, MODE: mode } = process.env;
const parallel = Number(process.env.PARALLEL ?? 8);
const durationMs = Number(process.env.DURATION_MS ?? 1000);
let seq = 0;

async function shutdown() {
  await admission.close();
  redis.disconnect();
  await pools.close();
}

async function serve() {
  const held = new Map();
  const reply = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, id, tenant, key, n] = line.trim().split(' ');
    if (cmd === 'admit') {
      // Not awaited: the next command (the other half of a burst, another client) runs alongside.
      void Promise.all(Array.from({ length: Number(n) }, () => admission.admit({ tenantId: tenant, apiKeyId: key, model: 'm', items: 1, eventId: `${process.pid}-${seq++}` }))).then((ds) => {
        held.set(id, ds);
        reply({ id, statuses: ds.map((d) => (d.allowed ? 200 : d.status)), remaining: ds.map((d) => d.headers['RateLimit-Remaining'] ?? null), limits: ds.map((d) => (d.allowed ? null : (d.details?.limit ?? d.details?.meter ?? null))) });
      });
    } else if (cmd === 'release') {
      const ds = held.get(id) ?? [];
      held.delete(id);
      for (const d of ds) if (d.allowed) d.ticket.release({ computeUs: 10, items: 1, ok: true });
      reply({ id, released: ds.length });
    } else if (cmd === 'exit') break;
  }
  await shutdown();
}

async function hammer() {
  // Warm the limits cache so both replicas start together. Its admit may take the shared bucket's
  // first tokens, so report when it started: the bucket refills from then on.
  const warmedAt = Date.now();
  const warm = await admission.admit({ tenantId, apiKeyId, model: 'm', items: 0, eventId: `warm-${process.pid}` });
  if (warm.allowed) warm.ticket.release({ computeUs: 0, items: 0, ok: false });
  process.stdout.write(`ready ${warmedAt}\n`);
  await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));

  const counts = { admitted: 0, quota: 0, rate: 0, other: 0 };
  const until = Date.now() + durationMs;
  async function worker() {
    for (;;) {
      if (mode === 'rate' && Date.now() >= until) return;
      const d = await admission.admit({ tenantId, apiKeyId, model: 'm', items: 1, eventId: `${process.pid}-${seq++}` });
      if (d.allowed) {
        counts.admitted++;
        d.ticket.release({ computeUs: 10, items: 1, ok: true });
      } else if (d.status === 402) {
        counts.quota++;
        if (mode === 'quota') return; // this replica's first refusal: the quota is used up
      } else if (d.status === 429) counts.rate++;
      else counts.other++;
      if (mode === 'rate' && !d.allowed) await new Promise((r) => setTimeout(r, 1));
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  await admission.close();
  process.stdout.write(JSON.stringify(counts) + '\n');
  redis.disconnect();
  await pools.close();
}

if (mode === 'serve') await serve();
else await hammer();
