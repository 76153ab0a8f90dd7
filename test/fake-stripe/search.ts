/**
 * Stripe's search query language, the subset Tollgate uses: clauses `field:'value'` and
 * `metadata['key']:'value'` joined by AND (https://docs.stripe.com/search#search-query-language).
 */
import { invalid } from './errors.js';
import type { Obj } from './state.js';

type Clause = { field: string; metadataKey?: string; value: string };

export function parseQuery(query: string): Clause[] {
  const parts = query.trim().split(/\s+AND\s+/);
  return parts.map((p) => {
    const m = /^(metadata\[(['"])(.+?)\2\]|[a-z_]+):(['"])(.*)\4$/.exec(p.trim());
    if (!m) throw invalid(`Invalid search query: could not parse \`${p}\`.`, undefined, 'query');
    return m[3] !== undefined ? { field: 'metadata', metadataKey: m[3], value: m[5]! } : { field: m[1]!, value: m[5]! };
  });
}

export function matches(o: Obj, clauses: Clause[]): boolean {
  return clauses.every((c) => (c.field === 'metadata' ? o.metadata?.[c.metadataKey!] === c.value : String(o[c.field] ?? '') === c.value));
}
