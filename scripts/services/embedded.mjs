/**
 * The embedded ClickHouse (chDB, the optional npm package `chdb`) as the fallback of
 * scripts/services.mjs: `CLICKHOUSE_URL=chdb:<path>` needs no server, so `up` neither probes nor
 * starts one; and `npm run up` (TOLLGATE_CLICKHOUSE_FALLBACK=embedded) switches to it when no
 * ClickHouse server answers and none can be installed here. Node builtins only.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

export const isEmbeddedUrl = (url) => typeof url === 'string' && url.startsWith('chdb:');

/** True when the `chdb` package and its engine library resolve from `root`. */
export function chdbInstalled(root) {
  try {
    const require = createRequire(path.join(root, 'package.json'));
    require.resolve('chdb/connection');
    require.resolve('chdb/package.json');
    // The engine itself is the optional platform package chdb depends on.
    const chdbDir = path.dirname(require.resolve('chdb/package.json'));
    createRequire(path.join(chdbDir, 'package.json')).resolve(`@chdb/lib-${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `chdb:` URL to use instead of an unreachable, uninstallable ClickHouse server, with the
 * one line to say so; or null when the fallback is not asked for or chdb is not installed.
 */
export function embeddedFallback({ env = process.env, root, stateBase, reason }) {
  if (env.TOLLGATE_CLICKHOUSE_FALLBACK !== 'embedded') return null;
  if (!chdbInstalled(root)) return null;
  const url = `chdb:${path.resolve(stateBase, 'chdb')}`;
  const first = String(reason).split('\n')[0];
  return {
    url,
    message: `clickhouse: no server (${first}); using the embedded ClickHouse instead: CLICKHOUSE_URL=${url} (one process; Grafana needs a server)`,
  };
}
