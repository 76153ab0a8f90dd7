/**
 * Reading NAB-format CSV files: a header row, then comma-separated rows without quoting;
 * timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC. Anything else is an error naming the file
 * and line, never a silently skipped row. Rows stay in file order: NAB's own files hold a few
 * repeated and out-of-order timestamps, and NAB scores them as they are.
 */
import { badInput } from '../../shared/index.js';

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** Epoch ms of a NAB timestamp (microseconds kept as a fraction), or null when it is not one. */
export function parseNabTimestamp(text: string): number | null {
  const m = timestampPattern.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac] = m;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + (frac ? Number(frac.padEnd(6, '0')) / 1000 : 0);
  // Date.UTC rolls 2014-02-30 over into March: only accept what it did not have to correct.
  const back = new Date(t);
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || back.getUTCHours() !== Number(h) || back.getUTCMinutes() !== Number(mi) || back.getUTCSeconds() !== Number(s)) return null;
  return t;
}

export interface NabColumns {
  timestamps: number[];
  columns: Record<string, Float64Array>;
}

/** Parses `text` and returns the timestamp column plus the named numeric columns. */
export function parseNabCsv(text: string, file: string, wanted: readonly string[]): NabColumns {
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw badInput(`${file}: empty file`);
  const header = lines[0]!.split(',').map((h) => h.trim());
  const tsCol = header.indexOf('timestamp');
  if (tsCol < 0) throw badInput(`${file}: no "timestamp" column in the header`);
  const cols = wanted.map((w) => {
    const i = header.indexOf(w);
    if (i < 0) throw badInput(`${file}: no "${w}" column in the header`);
    return i;
  });
  const n = lines.length - 1;
  const timestamps = new Array<number>(n);
  const columns = Object.fromEntries(wanted.map((w) => [w, new Float64Array(n)]));
  for (let r = 0; r < n; r++) {
    const cells = lines[r + 1]!.split(',');
    const t = parseNabTimestamp(cells[tsCol] ?? '');
    if (t === null) throw badInput(`${file}:${r + 2}: bad timestamp ${JSON.stringify(cells[tsCol] ?? '')}`);
    timestamps[r] = t;
    wanted.forEach((w, k) => {
      const cell = (cells[cols[k]!] ?? '').trim();
      const v = cell === '' ? NaN : Number(cell);
      if (!Number.isFinite(v)) throw badInput(`${file}:${r + 2}: bad ${w} ${JSON.stringify(cell)}`);
      columns[w]![r] = v;
    });
  }
  return { timestamps, columns };
}
