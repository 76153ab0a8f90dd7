/**
 * Pure text handling for ClickHouse migration files: placeholder rewriting (single node vs
 * cluster) and splitting a file into statements.
 *
 * Placeholders (double braces, so ClickHouse's own `{shard}`/`{replica}` macros pass through):
 * - `{{ON_CLUSTER}}`      -> '' on one node, `ON CLUSTER <name>` on a cluster.
 * - `{{ENGINE:X(args)}}`  -> `X(args)` on one node, `ReplicatedX('<zk path>', '{replica}', args)`
 *                            on a cluster, where X is MergeTree or one of its variants.
 */

export interface RewriteOptions {
  /** Cluster name (from CLICKHOUSE_CLUSTER); absent for a single node. */
  cluster?: string;
  /** ZooKeeper path template for replicated tables. */
  zooKeeperPath?: string;
}

export const DEFAULT_ZOOKEEPER_PATH = '/clickhouse/tables/{shard}/{database}/{table}';
const ENGINES = new Set(['MergeTree', 'ReplacingMergeTree', 'SummingMergeTree', 'AggregatingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree']);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function rewriteMigration(text: string, opts: RewriteOptions = {}): string {
  const { cluster } = opts;
  if (cluster !== undefined && !NAME.test(cluster)) throw new Error(`invalid cluster name ${JSON.stringify(cluster)}`);
  const zkPath = opts.zooKeeperPath ?? DEFAULT_ZOOKEEPER_PATH;
  if (/['\\]/.test(zkPath)) throw new Error('invalid ZooKeeper path');
  return text.replace(/\{\{([^{}]*)\}\}/g, (_all, body: string) => {
    const inner = body.trim();
    if (inner === 'ON_CLUSTER') return cluster ? `ON CLUSTER ${cluster}` : '';
    const m = /^ENGINE:\s*([A-Za-z]+)\s*(?:\((.*)\))?$/s.exec(inner);
    if (m) {
      const engine = m[1]!;
      const args = (m[2] ?? '').trim();
      if (!ENGINES.has(engine)) throw new Error(`unsupported engine in placeholder: ${engine}`);
      if (!cluster) return args ? `${engine}(${args})` : engine;
      const replicated = [`'${zkPath}'`, `'{replica}'`, ...(args ? [args] : [])];
      return `Replicated${engine}(${replicated.join(', ')})`;
    }
    throw new Error(`unknown migration placeholder {{${inner}}}`);
  });
}

/**
 * Splits SQL text into statements on `;` outside string literals, quoted identifiers and
 * comments. Statements that are empty or only comments are dropped.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let meaningful = false; // saw something other than whitespace/comments since `start`
  let i = 0;
  const n = text.length;
  const push = (end: number) => {
    const stmt = text.slice(start, end).trim();
    if (meaningful && stmt) out.push(stmt);
    meaningful = false;
  };
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const eol = text.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
    } else if (c === '/' && next === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close === -1) throw new Error('unterminated /* comment in migration');
      i = close + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      meaningful = true;
      i = skipQuoted(text, i, c);
    } else if (c === ';') {
      push(i);
      start = i + 1;
      i++;
    } else {
      if (!/\s/.test(c)) meaningful = true;
      i++;
    }
  }
  push(n);
  return out;
}

function skipQuoted(text: string, open: number, quote: string): number {
  let i = open + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\') i += 2;
    else if (c === quote) {
      if (text[i + 1] === quote) i += 2; // doubled quote escapes itself
      else return i + 1;
    } else i++;
  }
  throw new Error(`unterminated ${quote} quote in migration`);
}
