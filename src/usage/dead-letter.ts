/**
 * Usage records the flusher can never deliver (ClickHouse rejects them for their content, or
 * their keys cannot be bound into the dedup query) go to `<wal dir>/dead-letter.jsonl`, one JSON
 * line each with the error, fsync'd before the WAL checkpoint moves past them. An operator can
 * inspect, fix and re-send them; the flusher itself never reads the file.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ClickHouseError } from '../clickhouse/client.js';
import { SqlBindError } from '../clickhouse/sql.js';

export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

export interface DeadLetter {
  /** The WAL record's uid (`walId:segment:offset`). */
  uid: string;
  record: unknown;
  error: unknown;
}

/**
 * ClickHouse server errors that say nothing about the rows (overload, timeouts, permissions,
 * a missing table, cancelled queries): retried like transport errors, never dead-lettered.
 */
const TRANSIENT_CODES = new Set([
  3, // UNEXPECTED_END_OF_FILE (body cut in transit)
  8, // THERE_IS_NO_COLUMN  } schema not migrated yet: every row would fail; keep them in the WAL
  16, // NO_SUCH_COLUMN_IN_TABLE } until it is fixed rather than dead-letter everything
  47, // UNKNOWN_IDENTIFIER
  62, // SYNTAX_ERROR (our query text, not the rows)
  60, // UNKNOWN_TABLE
  81, // UNKNOWN_DATABASE
  159, // TIMEOUT_EXCEEDED
  164, // READONLY
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS (also too many partitions per insert: splitting would help, but usage rows are recent)
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED
  425, // SYSTEM_ERROR
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
  999, // KEEPER_EXCEPTION
]);

/**
 * True when the error is about the data sent (a parse error such as Code 25/26/27/117, a bad
 * value) rather than the connection or the server's state: retrying the same rows cannot help.
 */
export function isPermanentInsertError(err: unknown): boolean {
  if (err instanceof SqlBindError) return true;
  return err instanceof ClickHouseError && err.code !== 0 && !TRANSIENT_CODES.has(err.code);
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
