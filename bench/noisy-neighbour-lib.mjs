// Shared set-up for the quotas benchmarks (bench/noisy-neighbour*.mjs): transpiles src/ and
// inference/src/ (TypeScript -> ESM, no type check) into .state/bench-quotas-dist and imports from there.
import ts from 'typescript';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const root = path.resolve(import.meta.dirname, '..');
export const dist = path.join(root, '.state/bench-quotas-dist');

export function transpile() {
  const options = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, experimentalDecorators: true, emitDecoratorMetadata: true, esModuleInterop: true };
  for (const dir of ['src', 'inference/src']) {
    for (const f of fs.readdirSync(path.join(root, dir), { recursive: true })) {
      if (!f.endsWith('.ts') || f.endsWith('.d.ts')) continue;
      const { outputText } = ts.transpileModule(fs.readFileSync(path.join(root, dir, f), 'utf8'), { compilerOptions: options, fileName: f });
      const target = path.join(dist, dir, f.replace(/\.ts$/, '.js'));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, outputText);
    }
  }
}

export const load = (p) => import(pathToFileURL(path.join(dist, p)).href);

export function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0;
}

/** Limits for a bench tenant: admission runs every check but refuses nothing. */
export function generousLimits(tenantId, priorityTier = 2) {
  const big = 1e12;
  return {
    tenantId,
    apiKeyId: undefined,
    planCode: 'bench',
    priorityTier,
    timeZone: 'UTC',
    billingAnchorDay: 1,
    tenant: {
      rate: { rps: 1e7, burst: 1e7 },
      concurrency: 1e6,
      quotas: [
        { meter: 'requests', limit: big, hard: true, softThresholds: [80, 100] },
        { meter: 'items', limit: big, hard: true, softThresholds: [80, 100] },
        { meter: 'compute_ms_cpu', limit: big, hard: true, softThresholds: [80, 100] },
        { meter: 'compute_ms_cuda', limit: Infinity, hard: false, softThresholds: [] },
      ],
    },
    key: null,
  };
}

/** Deletes every key under a Redis prefix (the bench's own). */
export async function dropRedisPrefix(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
