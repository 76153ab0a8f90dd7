/**
 * `tollgate status [--json] [--inference-url U] [--api-url U] [--otlp-url U] [--timeout MS]`:
 * the operator's one-look report (app/status.ts gathers it). Prints a table, or with --json
 * exactly one JSON object on stdout. Exits 0 whenever the report could be printed — also when
 * no role runs or a database is down (that is what the report says).
 */
import type { Command } from 'commander';
import type { Config } from '../../src/config/index.js';
import type { StatusReport } from '../status.js';

interface StatusIo {
  out: (text: string) => void;
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const bytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const secs = (ms: number) => (ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`);

export function humanStatus(r: StatusReport): string {
  const out: string[] = [`Tollgate ${r.version} — status at ${r.at}`, ''];
  out.push(pad([['ROLE', 'STATE', 'VERSION', 'WHERE', 'DETAIL'], ...r.roles.map((x) => [x.role, x.up ? 'up' : 'down', x.version ?? '-', x.where, x.detail])]));
  out.push('');
  out.push(pad([['SERVICE', 'STATE', 'VERSION', 'ROUND TRIP', 'ERROR'], ...r.services.map((s) => [s.name, s.ok ? 'ok' : 'DOWN', s.version ?? '-', s.latencyMs === null ? '-' : `${s.latencyMs} ms`, s.error ?? ''])]));
  out.push('');
  const w = r.wal;
  if ('missing' in w) out.push(`usage WAL (this host): ${w.dir} — none yet (no inference role has run here)`);
  else if ('error' in w) out.push(`usage WAL (this host): ${w.dir} — cannot read: ${w.error}`);
  else
    out.push(
      `usage WAL (this host, replica ${w.id ?? '?'}): backlog ${bytes(w.backlogBytes)} of ${bytes(w.bytes)} in ${w.segments} segment(s); flusher lag ${secs(w.flusherLagMs)}; last confirmed ${w.lastConfirmedAt ?? 'never'}`,
    );
  out.push('');
  if ('error' in r.jobQueues) out.push(`job queues: unknown (${r.jobQueues.error})`);
  else out.push(pad([['JOB QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'CONSUMERS'], ...r.jobQueues.map((q) => [q.name, String(q.waiting), String(q.active), String(q.delayed), String(q.failed), String(q.workers)])]));
  out.push('');
  if ('error' in r.models) out.push(`models: unknown (${r.models.error})`);
  else if (r.models.length === 0) out.push('models: none loaded');
  else out.push(pad([['MODEL', 'VERSION', 'DEVICE', 'INSTANCES', 'QUEUED REQUESTS'], ...r.models.map((m) => [m.model, m.version, m.device, String(m.instances), String(m.pending)])]));
  out.push('');
  const a = r.alerts;
  if ('error' in a) out.push(`alerts: unknown (${a.error})`);
  else {
    const sev = Object.entries(a.bySeverity).map(([k, v]) => `${v} ${k}`).join(', ');
    out.push(`alerts: ${a.open} open${sev ? ` (${sev})` : ''}, ${a.acknowledged} acknowledged`);
  }
  return out.join('\n');
}

export function registerStatusCommand(program: Command, io: StatusIo, config: () => Config): void {
  program
    .command('status')
    .description('roles and versions, Postgres/ClickHouse/Redis, WAL backlog and flusher lag, queue depths, models and devices, open alerts')
    .option('--json', 'print one JSON object')
    .option('--inference-url <url>', 'the inference role (default: TOLLGATE_HOST:TOLLGATE_INFERENCE_PORT)')
    .option('--api-url <url>', 'the API role (default: TOLLGATE_HOST:TOLLGATE_API_PORT)')
    .option('--otlp-url <url>', 'the OTLP receiver (default: TOLLGATE_HOST:TOLLGATE_OTLP_PORT)')
    .option('--timeout <ms>', 'deadline per probe', '3000')
    .action(async (opts: { json?: boolean; inferenceUrl?: string; apiUrl?: string; otlpUrl?: string; timeout: string }) => {
      const timeoutMs = Number(opts.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) throw new Error(`--timeout must be an integer between 100 and 60000 (got ${JSON.stringify(opts.timeout)})`);
      const urls: Partial<Record<'inference' | 'api' | 'otlp', string>> = {};
      for (const [k, v] of [['inference', opts.inferenceUrl], ['api', opts.apiUrl], ['otlp', opts.otlpUrl]] as const) {
        if (v === undefined) continue;
        let u: URL;
        try {
          u = new URL(v);
        } catch {
          throw new Error(`--${k}-url is not a URL: ${JSON.stringify(v)}`);
        }
        urls[k] = u.origin;
      }
      // Imported here: the probes pull in bull, ClickHouse and the WAL, which other commands need not load.
      const { collectStatus } = await import('../status.js');
      const report = await collectStatus({ config: config(), urls, timeoutMs });
      io.out(opts.json ? JSON.stringify(report) : humanStatus(report));
    });
}
