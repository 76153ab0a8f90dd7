/**
 * ClickHouse access for Tollgate: the `sql` tagged template (the only way values reach SQL
 * text), a typed client that accepts only `Sql`, the migration runner and table names.
 */
export { Sql, sql, ident, inList, join, literal, empty, isSql, SqlBindError, type SqlValue } from './sql.js';
export {
  createClickHouse,
  ClickHouseError,
  ClickHouseCodes,
  toClickHouseError,
  type ClickHouse,
  type CreateClickHouseOptions,
  type QueryOptions,
  type ExecOptions,
  type InsertOptions,
} from './client.js';
export { migrateClickHouse, MigrationError, type MigrateClickHouseOptions } from './migrate.js';
export * from './tables.js';
export { isPermanentInsertError } from './insert-errors.js';
export { isEmbeddedUrl, embeddedPath, createEmbeddedConnection, EmbeddedClickHouseError, EMBEDDED_CONCURRENCY } from './embedded.js';
