/**
 * CSV encoding for every export Tollgate writes (RFC 4180, `\n` line ends).
 *
 * Text cells are always quoted: a tenant-set value such as `x;=HYPERLINK(...)` stays one
 * cell even in spreadsheets whose list separator is `;`. Text that a spreadsheet would read
 * as a formula gets a leading `'` (OWASP "CSV injection"): a first character of = + - @,
 * also after leading whitespace or control characters (`\t=1+1`, ` =1+1`, `\r=1+1` all
 * start formulas in some spreadsheet), and a leading TAB or CR on its own.
 * Numbers (number, bigint) are written as they are: they are ours, never tenant text.
 */
export type CsvCell = string | number | bigint;

const FORMULA_AFTER_BLANKS = /^[\s\p{Cc}\p{Cf}]*[=+\-@]/u;
const LEADING_TAB_OR_CR = /^[\t\r]/;

/** One text cell: neutralised if it could start a formula, then quoted. */
export function csvText(value: string): string {
  const safe = FORMULA_AFTER_BLANKS.test(value) || LEADING_TAB_OR_CR.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** One row, terminated by `\n`. */
export function csvRow(cells: readonly CsvCell[]): string {
  return `${cells.map((c) => (typeof c === 'string' ? csvText(c) : String(c))).join(',')}\n`;
}
