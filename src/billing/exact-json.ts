/**
 * JSON.parse that never turns a number into a JS float: every number is returned as its exact
 * decimal text ("0.0000005", "12", "1e3"). Prices stored in jsonb (price_components.tiers) are
 * read with `tiers::text` and parsed here, so the decimal parser sees the digits Postgres stored.
 * (Node 20's JSON.parse reviver has no access to the source text.)
 */
export function parseJsonExact(text: string): unknown {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '"') {
      // Copy a string literal verbatim (escapes included).
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const m = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) throw new SyntaxError(`invalid number in JSON at position ${i}`);
      out += `"${m[0]}"`;
      i += m[0].length;
    } else {
      out += ch;
      i++;
    }
  }
  return JSON.parse(out);
}
