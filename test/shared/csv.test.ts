/** CSV encoding: formula neutralisation (leading blanks/control characters too) and quoting. */
import { describe, expect, it } from 'vitest';
import { csvRow, csvText } from '../../src/shared/index.js';
import { parseCsv } from '../helpers/csv.js';

describe('csvText', () => {
  it.each([
    ['=1+1'], ['+1'], ['-1'], ['@SUM(A1)'],
    ['\t=1+1'], ['\r=1+1'], [' =1+1'], ['\u00a0=1+1'], ['\u0000=1'], ['\ufeff=1+1'], ['\n\n+cmd'],
    ['\tplain'], ['\rplain'],
  ])('neutralises %j', (value) => {
    const cell = parseCsv(csvText(value))[0]![0]!;
    expect(cell).toBe(`'${value}`);
  });

  it.each([['team-a'], ['a=b'], ['plain text'], [''], ['x@y']])('leaves %j as it is (quoted)', (value) => {
    expect(csvText(value)).toBe(`"${value}"`);
    expect(parseCsv(csvText(value))[0]).toEqual([value]);
  });

  it('keeps separators and quotes inside one cell: x;=HYPERLINK(...), commas, line breaks', () => {
    const hostile = ['x;=HYPERLINK("http://evil","click")', 'a,b', 'line\nbreak', 'say "hi"'];
    const parsed = parseCsv(csvRow([...hostile, 12, 3n]));
    expect(parsed).toEqual([[...hostile, '12', '3']]);
    // `;` never appears outside quotes, so a `;`-separated spreadsheet cannot split the cell.
    const outside = csvRow(hostile).replace(/"(?:[^"]|"")*"/g, '');
    expect(outside).toBe(',,,\n');
  });
});
