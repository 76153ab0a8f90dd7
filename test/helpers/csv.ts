/** RFC 4180 reader for tests: what a spreadsheet or a CSV library sees in our exports. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let inRow = false; // something of the current row was read (a row of one empty quoted cell counts)
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    inRow = ch !== '\n' || quoted;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; }
    else cell += ch;
  }
  if (quoted) throw new Error('unterminated quoted CSV field');
  if (inRow) { row.push(cell); rows.push(row); }
  return rows;
}
