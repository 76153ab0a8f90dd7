/** Classifying insert failures: retry (connection, server state) or give up on the rows (their content). */
import { ClickHouseError } from './client.js';
import { SqlBindError } from './sql.js';

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
