/**
 * The only code that puts values into ClickHouse SQL text.
 *
 * ClickHouse 18.16 has no server-side query parameters, so values are bound client-side:
 *
 *   sql`SELECT count() FROM usage_events_v1 WHERE tenant_id = ${tenantId} AND ts >= ${from}`
 *
 * Rules (each one closes a way for input to become SQL):
 * - The static parts of a template are code: `sql` refuses anything but a genuine (frozen)
 *   template strings array, so `sql([userText])` cannot smuggle text in. There is no `raw()`.
 * - Strings become '...' literals with `\`, `'` and every control character escaped, so
 *   any valid UTF-16 string round-trips exactly. Strings with lone surrogates are rejected:
 *   they have no UTF-8 encoding and would silently become U+FFFD.
 * - Numbers must be finite; integers beyond 2^53 must come as bigint (range Int64..UInt64);
 *   negatives are parenthesised so `x -${n}` can never turn into a `--` comment; subnormal
 *   floats are rejected (18.16's parser refuses them).
 * - Booleans are 1/0, null is NULL, Date is `toDateTime(<unix seconds>)` (milliseconds are
 *   truncated), arrays are `[...]` of bound values, nested `Sql` fragments are inlined.
 * - Identifiers only through `ident(name, allowList)`.
 * Anything else (undefined, objects, symbols, functions) throws.
 */

const TOKEN = Symbol('tollgate.sql');

/** An opaque piece of SQL text that was built only from code constants and bound values. */
export class Sql {
  readonly text: string;
  constructor(token: symbol, text: string) {
    if (token !== TOKEN) throw new TypeError('Sql fragments are built with the sql`` tag, ident() or join()');
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

export type SqlValue = string | number | bigint | boolean | Date | null | Sql | readonly SqlValue[];

export class SqlBindError extends TypeError {
  override readonly name = 'SqlBindError';
}

export function isSql(value: unknown): value is Sql {
  return value instanceof Sql;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const MIN_NORMAL = 2.2250738585072014e-308;
const MAX_DATETIME_SECONDS = 4294967295; // DateTime is UInt32 seconds
// Lone high surrogate (not followed by a low one) or lone low surrogate (not preceded by a high one).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\'\u0000-\u001f\u007f]/g;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

function escapeChar(c: string): string {
  switch (c) {
    case '\\':
      return '\\\\';
    case "'":
      return "\\'";
    case '\0':
      return '\\0';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
}

/** A string as a ClickHouse string literal. */
export function quoteString(value: string): string {
  if (LONE_SURROGATE.test(value)) throw new SqlBindError('cannot bind a string with a lone UTF-16 surrogate (not valid Unicode)');
  return `'${value.replace(NEEDS_ESCAPE, escapeChar)}'`;
}

function bindNumber(value: number): string {
  if (!Number.isFinite(value)) throw new SqlBindError(`cannot bind non-finite number ${value}`);
  if (Number.isInteger(value)) {
    if (!Number.isSafeInteger(value)) throw new SqlBindError(`integer ${value} is beyond 2^53: pass it as a bigint`);
    return value < 0 ? `(${value})` : String(value === 0 ? 0 : value);
  }
  if (Math.abs(value) < MIN_NORMAL) throw new SqlBindError(`cannot bind subnormal float ${value}`);
  // String(number) is the shortest text that parses back to the same double.
  return value < 0 ? `(${String(value)})` : String(value);
}

function bindBigInt(value: bigint): string {
  if (value < INT64_MIN || value > UINT64_MAX) throw new SqlBindError(`bigint ${value} is outside Int64..UInt64`);
  return value < 0n ? `(${value.toString()})` : value.toString();
}

function bindDate(value: Date): string {
  const ms = value.getTime();
  if (!Number.isFinite(ms)) throw new SqlBindError('cannot bind an invalid Date');
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0 || seconds > MAX_DATETIME_SECONDS) throw new SqlBindError(`Date ${value.toISOString()} is outside ClickHouse DateTime's range`);
  return `toDateTime(${seconds})`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return value === null ? 'null' : `object (${Object.prototype.toString.call(value)})`;
  return typeof value;
}

/** Renders one value as SQL text (used by the tag; exported for tests and `literal`). */
function bind(value: unknown, depth = 0): string {
  if (depth > 32) throw new SqlBindError('arrays nested too deeply');
  if (value instanceof Sql) return value.text;
  switch (typeof value) {
    case 'string':
      return quoteString(value);
    case 'number':
      return bindNumber(value);
    case 'bigint':
      return bindBigInt(value);
    case 'boolean':
      return value ? '1' : '0';
    case 'object':
      if (value === null) return 'NULL';
      if (value instanceof Date) return bindDate(value);
      if (Array.isArray(value)) return `[${value.map((v) => bind(v, depth + 1)).join(', ')}]`;
      break;
    default:
      break;
  }
  throw new SqlBindError(`cannot bind ${describe(value)} into SQL; allowed: string, number, bigint, boolean, Date, null, arrays of these, Sql fragments`);
}

function isTemplateStrings(strings: unknown): strings is TemplateStringsArray {
  return (
    Array.isArray(strings) &&
    Object.isFrozen(strings) &&
    Array.isArray((strings as unknown as { raw?: unknown }).raw) &&
    Object.isFrozen((strings as unknown as { raw: unknown }).raw) &&
    strings.every((s) => typeof s === 'string')
  );
}

/** The tagged template: static text from code, every `${value}` bound as a literal. */
export function sql(strings: TemplateStringsArray, ...values: readonly SqlValue[]): Sql {
  if (!isTemplateStrings(strings)) throw new SqlBindError('sql must be used as a tagged template: sql`...`');
  if (strings.length !== values.length + 1) throw new SqlBindError('template/value count mismatch');
  let text = strings[0]!;
  for (let i = 0; i < values.length; i++) text += bind(values[i]) + strings[i + 1]!;
  return new Sql(TOKEN, text);
}

/** One bound value as a fragment (same as sql`${value}`). */
export function literal(value: SqlValue): Sql {
  return new Sql(TOKEN, bind(value));
}

/**
 * A parenthesised list for `x IN ${inList(values)}` (`IN` takes a tuple, not an array).
 * An empty list is rejected: `IN ()` is not valid SQL; handle "no values" in the caller.
 */
export function inList(values: readonly SqlValue[]): Sql {
  if (!Array.isArray(values)) throw new SqlBindError('inList expects an array');
  if (values.length === 0) throw new SqlBindError('inList needs at least one value');
  return new Sql(TOKEN, `(${values.map((v) => bind(v)).join(', ')})`);
}

/**
 * An identifier (table, column, `Nested.sub` column) that must appear in `allowList`, a list
 * written in code. Anything else is rejected.
 */
export function ident(name: string, allowList: Iterable<string>): Sql {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new SqlBindError(`invalid identifier ${JSON.stringify(String(name))}`);
  if (typeof allowList === 'string') throw new SqlBindError('ident allow-list must be a list of names, not a string');
  const allowed = allowList instanceof Set ? allowList.has(name) : [...allowList].includes(name);
  if (!allowed) throw new SqlBindError(`identifier ${JSON.stringify(name)} is not in the allow-list`);
  return new Sql(TOKEN, name);
}

/** Joins fragments with a separator fragment (default `, `). */
export function join(fragments: readonly Sql[], separator: Sql = COMMA): Sql {
  if (!(separator instanceof Sql)) throw new SqlBindError('join separator must be an Sql fragment');
  for (const f of fragments) if (!(f instanceof Sql)) throw new SqlBindError(`join expects Sql fragments, got ${describe(f)}`);
  return new Sql(TOKEN, fragments.map((f) => f.text).join(separator.text));
}

const COMMA = new Sql(TOKEN, ', ');
export const empty = new Sql(TOKEN, '');

