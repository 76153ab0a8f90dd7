/**
 * `tollgate simulate --tenants N --duration D [--anomalies] [--peak-rps R] [--models a,b]
 * [--inference-url U] [--json] [--backfill 30d]`: traffic through a running inference role
 * (app/simulate.ts). A progress bar on a TTY; --json prints one JSON object (tenants with
 * their keys, counts by status). --backfill first imports generated history (same seasonality,
 * the anomaly two days back) through the platform usage import (src/usage importUsage), with the
 * tenants' first plan backdated to its start.
 */
import type { Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import type { Actor } from '../../src/audit/index.js';

interface SimIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export function registerSimulateCommand(program: Command, io: SimIo, config: () => Config, actor: () => Actor): void {
  program
    .command('simulate')
    .description('multi-tenant traffic with daily/weekly seasonality through the real inference API (creates the tenants and keys)')
    .requiredOption('--tenants <n>', 'tenants to create (1-100)')
    .requiredOption('--duration <d>', 'how long to send, e.g. 30s, 5m, 1h')
    .option('--anomalies', "inject an anomaly: the first tenant's traffic x5 with a third malformed, in the middle third of the run")
    .option('--peak-rps <r>', 'peak requests per second of the largest tenant', '4')
    .option('--models <list>', 'models to call, comma-separated', 'mlp-demo')
    .option('--inference-url <url>', 'the inference role (default: TOLLGATE_HOST:TOLLGATE_INFERENCE_PORT)')
    .option('--backfill <span>', 'first import this much history (e.g. 30d) through the platform usage import')
    .option('--backfill-peak-per-hour <n>', 'requests per hour of the largest tenant at the daily peak, in the history', '120')
    .option('--json', 'print one JSON object')
    .action(async (opts: { tenants: string; duration: string; anomalies?: boolean; peakRps: string; models: string; inferenceUrl?: string; backfill?: string; backfillPeakPerHour: string; json?: boolean }) => {
      const { simulate, parseDuration } = await import('../simulate.js');
      const { defaultRoleUrls } = await import('../status.js');
      const backfillMs = opts.backfill === undefined ? null : parseDuration(opts.backfill);
      if (backfillMs !== null && (backfillMs < 3_600_000 || backfillMs > 93 * 86_400_000)) throw new Error('--backfill must be between 1h and 93d');
      const peakPerHour = Number(opts.backfillPeakPerHour);
      if (!Number.isFinite(peakPerHour) || peakPerHour <= 0 || peakPerHour > 10_000) throw new Error('--backfill-peak-per-hour must be a number in (0, 10000]');
      const tenants = Number(opts.tenants);
      if (!Number.isInteger(tenants) || tenants < 1 || tenants > 100) throw new Error(`--tenants must be an integer from 1 to 100 (got ${JSON.stringify(opts.tenants)})`);
      const durationMs = parseDuration(opts.duration);
      if (durationMs < 1000 || durationMs > 7 * 86_400_000) throw new Error('--duration must be between 1s and 7d');
      const peakRps = Number(opts.peakRps);
      if (!Number.isFinite(peakRps) || peakRps <= 0 || peakRps > 500) throw new Error(`--peak-rps must be a number in (0, 500] (got ${JSON.stringify(opts.peakRps)})`);
      const models = opts.models.split(',').map((m) => m.trim()).filter(Boolean);
      if (models.length === 0) throw new Error('--models: name at least one model');
      const cfg = config();
      const inferenceUrl = opts.inferenceUrl ? new URL(opts.inferenceUrl).origin : defaultRoleUrls(cfg).inference;
      const probe = await fetch(`${inferenceUrl}/v2/health/ready`, { signal: AbortSignal.timeout(3000) }).catch((err: unknown) => err as Error);
      if (probe instanceof Error || probe.status !== 200) {
        throw new Error(`the inference role at ${inferenceUrl} is not ready (${probe instanceof Error ? ((probe as { cause?: { code?: string } }).cause?.code ?? probe.message) : `status ${probe.status}`}); start it with tollgate serve`);
      }
      let bar: { update(n: number, p: Record<string, unknown>): void; stop(): void } | null = null;
      if (!opts.json && process.stderr.isTTY) {
        const { SingleBar, Presets } = await import('cli-progress');
        const b = new SingleBar({ format: 'simulate |{bar}| {percentage}% | {sent} sent, {ok} ok, {failed} failed', stream: process.stderr }, Presets.shades_classic);
        b.start(durationMs, 0, { sent: 0, ok: 0, failed: 0 });
        bar = b;
      }
      let backfill = null;
      let closeBackfill = async () => {};
      if (backfillMs !== null) {
        const { importUsage } = await import('../../src/usage/index.js');
        const { createClickHouse } = await import('../../src/clickhouse/index.js');
        const { createPgPools } = await import('../../src/db/index.js');
        const pools = createPgPools(cfg, { applicationName: 'tollgate-simulate' });
        const clickhouse = createClickHouse(cfg);
        closeBackfill = async () => void (await Promise.allSettled([pools.close(), clickhouse.close()]));
        backfill = { spanMs: backfillMs, peakPerHour, import: (q: { tenantId: string; lines: Iterable<string>; knownModels: ReadonlySet<string> }) => importUsage({ pools, clickhouse }, q) };
      }
      const report = await simulate({
        backfill,
        config: cfg,
        tenants,
        durationMs,
        peakRps,
        anomalies: Boolean(opts.anomalies),
        inferenceUrl,
        models,
        actor: actor(),
        onTick: (p) => bar?.update(Math.min(durationMs, p.elapsedMs), { sent: p.sent, ok: p.ok, failed: Math.max(0, p.failed) }),
      }).finally(() => closeBackfill());
      bar?.stop();
      if (opts.json) {
        io.out(JSON.stringify(report));
        return;
      }
      const lines = [
        report.backfill ? `imported ${report.backfill.imported} requests of history from ${report.backfill.from} to ${report.backfill.to}` : '',
        `sent ${report.sent} requests in ${(report.durationMs / 1000).toFixed(1)} s: ${report.ok} ok${Object.entries(report.byStatus).map(([s, n]) => `, ${n} × ${s}`).join('')}`,
        report.anomalies ? `anomaly injected for ${report.anomalies.tenant} from +${(report.anomalies.fromMs / 1000).toFixed(0)} s to +${(report.anomalies.toMs / 1000).toFixed(0)} s` : '',
        'tenants (admin keys are shown once; sign in to the console at /console with one):',
        ...report.tenants.map((t) => `  ${t.name}  plan ${t.plan}  ${t.sent} sent / ${t.ok} ok  key ${t.key}`),
      ].filter(Boolean);
      io.out(lines.join('\n'));
    });
}
