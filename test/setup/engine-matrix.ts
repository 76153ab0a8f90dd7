/**
 * The ClickHouse engine matrix: which test files `npm test` runs a second time, on the embedded
 * current ClickHouse (chDB 26.7, project `chdb` in vitest.config.ts), besides the 18.16 server.
 *
 * Derived, not listed, so a new test file joins by itself: a file is in the matrix when its own
 * text mentions ClickHouse (`clickhouse`, any case: the client, its helpers, CLICKHOUSE_*
 * settings, a comment), or a test helper it imports (test/**, followed transitively) imports
 * src/clickhouse (a helper's comment about ClickHouse does not count).
 * A file leaves it only by saying why, in a line of its own:
 *
 *   // engine-matrix: server only — <reason>
 *
 * The guard (test/setup/clickhouse-guard.ts, loaded for every file of the server project) fails a
 * file that sent a request to the ClickHouse server without being in the matrix or opted out,
 * so a file that reaches ClickHouse only through src/ cannot skip the matrix unnoticed.
 */
import fs from 'node:fs';
import path from 'node:path';

export const OPT_OUT = /^\s*\/\/\s*engine-matrix:\s*server only\s*[—-]+\s*(.*)$/m;
const MENTIONS = /clickhouse/i;
const HELPER_USES = /['"][./]*\/src\/clickhouse\/|CLICKHOUSE_URL/;
const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|import\s+['"](\.[^'"]+)['"]/g;

export interface EngineMatrix {
  /** Test files (relative to the repository root, `/`-separated) that run on both engines. */
  both: string[];
  /** Files that reach ClickHouse but run on the server only, with their reason. */
  serverOnly: Array<{ file: string; reason: string }>;
}

function testSideImports(file: string, testDir: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    const p = path.resolve(path.dirname(file), spec);
    if (!p.startsWith(testDir + path.sep)) continue; // src/ is followed by the runtime guard instead
    for (const c of [p, p.replace(/\.js$/, '.ts'), `${p}.ts`]) {
      if (fs.existsSync(c) && fs.statSync(c).isFile()) {
        out.push(c);
        break;
      }
    }
  }
  return out;
}

/** True when a test helper (or one it imports) uses src/clickhouse or CLICKHOUSE_URL. */
function helperUsesClickHouse(file: string, testDir: string, memo: Map<string, boolean>): boolean {
  const known = memo.get(file);
  if (known !== undefined) return known;
  memo.set(file, false); // import cycles
  const text = fs.readFileSync(file, 'utf8');
  const hit = HELPER_USES.test(text) || testSideImports(file, testDir, text).some((d) => helperUsesClickHouse(d, testDir, memo));
  memo.set(file, hit);
  return hit;
}

function mentionsClickHouse(file: string, testDir: string, memo: Map<string, boolean>): boolean {
  const text = fs.readFileSync(file, 'utf8');
  return MENTIONS.test(text) || testSideImports(file, testDir, text).some((d) => helperUsesClickHouse(d, testDir, memo));
}

export function engineMatrix(root: string): EngineMatrix {
  const testDir = path.join(root, 'test');
  const files = (fs.readdirSync(testDir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(testDir, f))
    .sort();
  const memo = new Map<string, boolean>();
  const matrix: EngineMatrix = { both: [], serverOnly: [] };
  for (const file of files) {
    if (!mentionsClickHouse(file, testDir, memo)) continue;
    const rel = path.relative(root, file).split(path.sep).join('/');
    const out = OPT_OUT.exec(fs.readFileSync(file, 'utf8'));
    if (out) matrix.serverOnly.push({ file: rel, reason: out[1]!.trim() });
    else matrix.both.push(rel);
  }
  return matrix;
}

/** Whether an outgoing request (node:http arguments, or fetch's input) goes to the ClickHouse server at `clickhouseUrl`. */
export function isClickHouseRequest(clickhouseUrl: string | undefined, target: unknown, options?: unknown): boolean {
  let ch: URL;
  try {
    ch = new URL(clickhouseUrl ?? '');
  } catch {
    return false;
  }
  if (ch.protocol !== 'http:' && ch.protocol !== 'https:') return false; // the embedded engine has no address
  const portOf = (u: { protocol?: string | null; port?: string | number | null }) => String(u.port || (u.protocol === 'https:' ? 443 : 80));
  let host: string | undefined;
  let port: string | undefined;
  if (typeof target === 'string' || target instanceof URL) {
    try {
      const u = new URL(String(target));
      host = u.hostname;
      port = portOf(u);
    } catch {
      return false;
    }
  } else if (target && typeof target === 'object' && typeof (target as { url?: unknown }).url === 'string' && !('hostname' in target)) {
    return isClickHouseRequest(clickhouseUrl, (target as { url: string }).url); // a fetch Request
  } else {
    const o = (target && typeof target === 'object' ? target : options) as { hostname?: string; host?: string; port?: number | string; protocol?: string } | undefined;
    if (!o) return false;
    host = o.hostname ?? o.host?.replace(/:\d+$/, '');
    port = portOf(o);
  }
  return host === ch.hostname && port === portOf(ch);
}
