/**
 * Checks done on the raw HTTP request before Apollo parses anything:
 * - token limit (a lexer pass that stops at the limit, so a megabyte of aliases costs little);
 * - persisted-query safelist (GRAPHQL_SAFELIST_FILE): only listed documents run; a client may send
 *   just `extensions.persistedQuery.sha256Hash` and the listed document is filled in.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Lexer, Source, TokenKind } from '../graphql-runtime.js';

export const MAX_TOKENS = 2000;

/** Counts lexical tokens up to `limit + 1`; a lexing error counts as acceptable here (the parser reports it). */
export function tooManyTokens(query: string, limit = MAX_TOKENS): boolean {
  try {
    const lexer = new Lexer(new Source(query));
    let n = 0;
    for (let t = lexer.advance(); t.kind !== TokenKind.EOF; t = lexer.advance()) {
      if (++n > limit) return true;
    }
    return false;
  } catch {
    return false;
  }
}

export interface Safelist {
  /** sha256 hex of a document -> the document. */
  byHash: Map<string, string>;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Loads a safelist: an Apollo persisted-query manifest ({"operations": [{"body": ...}]}), a JSON
 * array of documents, or an object {hash: document}. Documents are indexed by their own sha256.
 */
export function loadSafelist(file: string): Safelist {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  let docs: string[];
  if (Array.isArray(raw)) docs = raw.map(String);
  else if (raw && typeof raw === 'object' && Array.isArray((raw as { operations?: unknown }).operations)) {
    docs = ((raw as { operations: Array<{ body?: unknown }> }).operations).map((o) => String(o.body ?? ''));
  } else if (raw && typeof raw === 'object') docs = Object.values(raw as Record<string, unknown>).map(String);
  else throw new Error(`${file}: expected a persisted-query manifest, an array or an object`);
  return { byHash: new Map(docs.filter(Boolean).map((d) => [sha256(d), d])) };
}

export type GuardResult = { ok: true } | { ok: false; status: number; code: 'BAD_USER_INPUT' | 'FORBIDDEN'; message: string };

interface GraphQLBody {
  query?: unknown;
  extensions?: { persistedQuery?: { sha256Hash?: unknown } } & Record<string, unknown>;
}

/** Inspects (and for safelisted hash-only requests, completes) a POST body in place. */
export function guardBody(body: unknown, safelist: Safelist | null): GuardResult {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: true }; // Apollo reports malformed bodies
  const b = body as GraphQLBody;
  if (safelist) {
    const hash = b.extensions?.persistedQuery?.sha256Hash;
    if (typeof b.query !== 'string' && typeof hash === 'string') {
      const doc = safelist.byHash.get(hash.toLowerCase());
      if (!doc) return { ok: false, status: 400, code: 'FORBIDDEN', message: 'operation is not in the persisted-query safelist' };
      b.query = doc;
    }
    if (typeof b.query === 'string' && !safelist.byHash.has(sha256(b.query))) {
      return { ok: false, status: 400, code: 'FORBIDDEN', message: 'operation is not in the persisted-query safelist' };
    }
    // The document was resolved here; Apollo's automatic persisted queries stay off.
    if (b.extensions) delete b.extensions.persistedQuery;
  }
  if (typeof b.query === 'string' && tooManyTokens(b.query)) {
    return { ok: false, status: 400, code: 'BAD_USER_INPUT', message: `query has more than ${MAX_TOKENS} tokens` };
  }
  return { ok: true };
}
