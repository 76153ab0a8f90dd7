/**
 * Small pieces every module uses: the error hierarchy (codes → HTTP status / GraphQL
 * `extensions.code`), the logger, the Redis connection factory, `listenOn` for fastify
 * servers, string helpers and the package root. Nothing here knows a table or a rule.
 */
export { errorCodes, AppError, badInput, notFound, unauthenticated, forbidden, unavailable, isAppError, type ErrorCode } from './errors.js';
export { createLogger, resolveLogFormat, type Logger, type LogFormat, type LogFormatSetting } from './logger.js';
export { createRedis, redisKey, type Redis } from './redis.js';
export { luaScript, runScript, type Script } from './redis-script.js';
export { listenOn } from './http.js';
export { truncateCodePoints, isWellFormed, toWellFormed } from './text.js';
export { packageRoot } from './package-root.js';
export { csvText, csvRow, type CsvCell } from './csv.js';
export { prng } from './prng.js';
