/** ioredis connections; every key Tollgate writes starts with `config.REDIS_PREFIX + ':'`. */
import { Redis } from 'ioredis';
import type { Config } from '../config/index.js';

export type { Redis };

export function createRedis(config: Pick<Config, 'REDIS_URL'>, opts: { lazyConnect?: boolean; maxRetriesPerRequest?: number | null } = {}): Redis {
  return new Redis(config.REDIS_URL, {
    lazyConnect: opts.lazyConnect ?? false,
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 2 : opts.maxRetriesPerRequest,
    enableOfflineQueue: true,
  });
}

export function redisKey(config: Pick<Config, 'REDIS_PREFIX'>, ...parts: string[]): string {
  return [config.REDIS_PREFIX, ...parts].join(':');
}
