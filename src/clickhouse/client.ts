/**
 * A small typed wrapper around @clickhouse/client 1.23 for ClickHouse 18.16 and current
 * releases. Every method takes an `Sql` fragment (see sql.ts), never a string, so no caller
 * can build SQL text from values. Reads run with `readonly=2`, `wait_end_of_query=1` (a
 * mid-stream exception becomes a proper error) and a default `max_execution_time`.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient as RawClient, type ClickHouseSettings } from '@clickhouse/client';
import type { z } from 'zod';
import type { Config } from '../config/index.js';
import { createEmbeddedConnection, isEmbeddedUrl } from './embedded.js';
import { Sql } from './sql.js';

/** A failure talking to ClickHouse. `code` is the server's error code, or 0 for transport failures (connection refused, reset, timeout). */
export class ClickHouseError extends Error {
  override readonly name = 'ClickHouseError';
  constructor(
    readonly code: number,
    message: string,
    readonly queryId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  /** True when the request may or may not have reached the server (e.g. connection reset): an ambiguous outcome for writes. */
  get isTransport(): boolean {
    return this.code === 0;
  }
}

/** Well-known server codes worth naming. */
export const ClickHouseCodes = {
  UNKNOWN_TABLE: 60,
  UNKNOWN_DATABASE: 81,
  SYNTAX_ERROR: 62,
  TIMEOUT_EXCEEDED: 159,
  READONLY: 164,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  QUERY_WAS_CANCELLED: 394,
} as const;

const CODE_RE = /^\s*Code:\s*(\d+)[,.]?\s*(?:e\.displayText\(\) = )?(.*)$/s;

/** Turns whatever the client threw into a ClickHouseError (18.16 errors are plain Errors starting `Code: N`). */
export function toClickHouseError(err: unknown, queryId?: string): ClickHouseError {
  if (err instanceof ClickHouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = CODE_RE.exec(message);
  if (m) {
    const text = m[2]!.replace(/,?\s*e\.what\(\) = DB::Exception\s*$/s, '').trim();
    return new ClickHouseError(Number(m[1]), text, queryId, { cause: err });
  }
  // The official client parses newer servers' errors itself and sets a numeric-string `code`.
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return new ClickHouseError(Number(code), message, queryId, { cause: err });
  return new ClickHouseError(0, `ClickHouse request failed: ${message}`, queryId, { cause: err });
}

export interface QueryOptions<T> {
  settings?: ClickHouseSettings;
  queryId?: string;
  /** Parse (and coerce) each row; UInt64/Int64 arrive as strings in JSON. */
  schema?: z.ZodType<T>;
}

export interface ExecOptions {
  settings?: ClickHouseSettings;
  queryId?: string;
}

export interface InsertOptions {
  format?: 'JSONEachRow';
  /** Name the columns when some are omitted from rows: JSONEachRow gives omitted fields the type's zero value, not DEFAULT, unless columns are listed. */
  columns?: readonly string[];
  settings?: ClickHouseSettings;
  queryId?: string;
}

export interface ClickHouse {
  readonly database: string;
  /** A read (SELECT / SHOW / EXISTS) returning JSONEachRow rows. */
  query<T = Record<string, unknown>>(q: Sql, opts?: QueryOptions<T>): Promise<T[]>;
  /** Streams rows of a read, for results too large to buffer. */
  stream<T = Record<string, unknown>>(q: Sql, opts?: QueryOptions<T>): AsyncGenerator<T, void, undefined>;
  /** DDL, ALTER, INSERT ... SELECT and other statements without a result. */
  exec(q: Sql, opts?: ExecOptions): Promise<void>;
  /** Inserts rows as JSONEachRow into a table of this database. */
  insert(table: string, rows: readonly object[], opts?: InsertOptions): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

function assertSql(q: unknown): asserts q is Sql {
  if (!(q instanceof Sql)) throw new TypeError('ClickHouse queries must be Sql fragments built with the sql`` tag');
}

export interface CreateClickHouseOptions {
  /** Database override (the migration runner uses `default` to create the target database). */
  database?: string;
  /** Extra settings for every request. */
  settings?: ClickHouseSettings;
}

/** Creates a ClickHouse wrapper bound to `config.CLICKHOUSE_DATABASE`. */
export function createClickHouse(config: Config, options: CreateClickHouseOptions = {}): ClickHouse {
  const database = options.database ?? config.CLICKHOUSE_DATABASE;
  const maxExecutionTime = config.CLICKHOUSE_MAX_EXECUTION_TIME;
  const raw: RawClient = createRawClient(config, database, maxExecutionTime, options.settings);
  const readSettings: ClickHouseSettings = { readonly: '2', wait_end_of_query: 1, max_execution_time: maxExecutionTime };

  async function run<R>(queryId: string | undefined, fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (err) {
      throw toClickHouseError(err, queryId);
    }
  }

  function parseRow<T>(row: unknown, schema: z.ZodType<T> | undefined): T {
    return schema ? schema.parse(row) : (row as T);
  }

  return {
    database,
    async query<T>(q: Sql, opts: QueryOptions<T> = {}): Promise<T[]> {
      assertSql(q);
      const rows = await run(opts.queryId, async () => {
        const rs = await raw.query({ query: q.text, format: 'JSONEachRow', query_id: opts.queryId, clickhouse_settings: { ...readSettings, ...opts.settings, readonly: '2' } });
        return rs.json<unknown>();
      });
      return rows.map((r) => parseRow(r, opts.schema));
    },
    async *stream<T>(q: Sql, opts: QueryOptions<T> = {}): AsyncGenerator<T, void, undefined> {
      assertSql(q);
      const settings: ClickHouseSettings = { max_execution_time: maxExecutionTime, ...opts.settings, readonly: '2' };
      const rs = await run(opts.queryId, () => raw.query({ query: q.text, format: 'JSONEachRow', query_id: opts.queryId, clickhouse_settings: settings }));
      const body = rs.stream();
      try {
        for await (const batch of body) {
          for (const row of batch as Array<{ json(): unknown }>) yield parseRow(row.json(), opts.schema);
        }
      } catch (err) {
        throw toClickHouseError(err, opts.queryId);
      } finally {
        body.destroy();
      }
    },
    async exec(q: Sql, opts: ExecOptions = {}): Promise<void> {
      assertSql(q);
      await run(opts.queryId, () => raw.command({ query: q.text, query_id: opts.queryId, clickhouse_settings: { wait_end_of_query: 1, ...opts.settings } }));
    },
    async insert(table: string, rows: readonly object[], opts: InsertOptions = {}): Promise<void> {
      if (typeof table !== 'string' || !NAME.test(table) || table.includes('.')) throw new TypeError(`invalid table name ${JSON.stringify(table)}`);
      for (const c of opts.columns ?? []) if (!NAME.test(c)) throw new TypeError(`invalid column name ${JSON.stringify(c)}`);
      if (opts.format !== undefined && opts.format !== 'JSONEachRow') throw new TypeError('only JSONEachRow inserts are supported');
      if (!Array.isArray(rows)) throw new TypeError('insert rows must be an array of objects');
      if (rows.length === 0) return;
      await run(opts.queryId, () =>
        raw.insert({
          table,
          values: rows as object[],
          format: 'JSONEachRow',
          ...(opts.columns ? { columns: [...opts.columns] as [string, ...string[]] } : {}),
          query_id: opts.queryId,
          clickhouse_settings: opts.settings,
        }),
      );
    },
    async ping(): Promise<boolean> {
      const r = await raw.ping();
      return r.success;
    },
    close: () => raw.close(),
  };
}

function createRawClient(config: Config, database: string, maxExecutionTime: number, settings?: ClickHouseSettings): RawClient {
  if (isEmbeddedUrl(config.CLICKHOUSE_URL)) {
    // The engine in this process (embedded.ts): same client, same SQL, no server.
    return createClient({
      connection: createEmbeddedConnection(config.CLICKHOUSE_URL, database),
      database,
      application: 'tollgate',
      // 18.16's JSON output quotes UInt64/Int64; current releases' default does too, chDB's does not.
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1, ...settings },
      log: { level: ClickHouseLogLevel.OFF },
    });
  }
  return createClient({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    database,
    application: 'tollgate',
    // Leave room for the server to report its own timeout before the socket gives up.
    request_timeout: (maxExecutionTime + 30) * 1000,
    clickhouse_settings: settings,
    // Errors are reported to the caller as ClickHouseError; the client's own logger is noise.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/**
 * For the migration runner only: a client that executes trusted statement text from the
 * repository's migration files. Not exported from index.ts.
 * @internal
 */
export function createMigrationExecutor(config: Config, database: string): { run(statement: string): Promise<void>; close(): Promise<void> } {
  const raw = createRawClient(config, database, 600);
  return {
    async run(statement: string) {
      try {
        await raw.command({ query: statement, clickhouse_settings: { wait_end_of_query: 1 } });
      } catch (err) {
        throw toClickHouseError(err);
      }
    },
    close: () => raw.close(),
  };
}
