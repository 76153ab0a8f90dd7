/** Lua scripts run by SHA (EVALSHA), loaded on first use or after a Redis restart (NOSCRIPT). */
import { createHash } from 'node:crypto';
import type { Redis } from './redis.js';

export interface Script {
  readonly source: string;
  readonly sha: string;
}

export function luaScript(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Runs a script by SHA, loading it on NOSCRIPT (after a Redis restart or on first use). */
export async function runScript(redis: Redis, s: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(s.source, keys.length, ...keys, ...args);
    throw err;
  }
}
