/**
 * Usage records the flusher can never deliver (ClickHouse rejects them for their content, or
 * their keys cannot be bound into the dedup query) go to `<wal dir>/dead-letter.jsonl`, one JSON
 * line each with the error, fsync'd before the WAL checkpoint moves past them. An operator can
 * inspect, fix and re-send them; the flusher itself never reads the file.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ClickHouseError } from '../clickhouse/index.js';

export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

export interface DeadLetter {
  /** The WAL record's uid (`walId:segment:offset`). */
  uid: string;
  record: unknown;
  error: unknown;
}

function describe(err: unknown): { name: string; code?: number; message: string } {
  if (err instanceof ClickHouseError) return { name: err.name, code: err.code, message: err.message };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** Appends to one dead-letter file; appends are serialized, each one fsync'd before it resolves. */
export class DeadLetterFile {
  readonly file: string;
  private chain: Promise<void> = Promise.resolve();
  private created = false;

  constructor(dir: string) {
    this.file = path.join(dir, DEAD_LETTER_FILE);
  }

  append(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return Promise.resolve();
    const at = new Date().toISOString();
    // JSON.stringify escapes lone surrogates (\udXXX), so the line is valid JSON and ASCII-safe.
    const text = letters.map((l) => JSON.stringify({ at, uid: l.uid, error: describe(l.error), record: l.record }) + '\n').join('');
    const run = this.chain.then(() => this.write(text));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(text: string): Promise<void> {
    const fh = await fsp.open(this.file, 'a');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (!this.created) {
      // The file's directory entry must survive a crash too (once is enough).
      const d = await fsp.open(path.dirname(this.file), 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
      this.created = true;
    }
  }
}
