/**
 * Server project only (vitest.config.ts): notes whether this test file sends a request to the
 * ClickHouse server (CLICKHOUSE_URL's host and port, through node:http or fetch), and fails the
 * file afterwards if it did but is neither in the engine matrix nor opted out of it with a
 * reason (test/setup/engine-matrix.ts). So no test that uses ClickHouse skips the embedded
 * current engine unnoticed, however it reaches ClickHouse (requests of child processes are not
 * seen: a file that starts Tollgate processes names ClickHouse itself when they use it).
 */
import http from 'node:http';
import path from 'node:path';
import { afterAll } from 'vitest';
import { engineMatrix, isClickHouseRequest } from './engine-matrix.js';

const root = path.resolve(import.meta.dirname, '../..');
let touched = false;
const note = (target: unknown, options?: unknown) => {
  if (!touched && isClickHouseRequest(process.env.CLICKHOUSE_URL, target, options)) touched = true;
};

const originalRequest = http.request;
const originalGet = http.get;
http.request = function (this: unknown, ...args: unknown[]) {
  note(args[0], args[1]);
  return (originalRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
} as typeof http.request;
http.get = function (this: unknown, ...args: unknown[]) {
  note(args[0], args[1]);
  return (originalGet as (...a: unknown[]) => http.ClientRequest).apply(this, args);
} as typeof http.get;
const originalFetch = globalThis.fetch;
globalThis.fetch = function (input: Parameters<typeof fetch>[0], init?: RequestInit) {
  note(input);
  return originalFetch(input, init);
} as typeof fetch;

// eslint-disable-next-line no-empty-pattern -- vitest parses hook arguments as fixtures: the first must be a pattern
afterAll(({}, suite) => {
  if (!touched) return;
  const file = path.relative(root, (suite as { filepath?: string }).filepath ?? '').split(path.sep).join('/');
  const matrix = engineMatrix(root);
  if (matrix.both.includes(file) || matrix.serverOnly.some((s) => s.file === file)) return;
  throw new Error(
    `${file} sent requests to ClickHouse but is not in the engine matrix: name ClickHouse in its header comment so it also runs on the embedded current engine, ` +
      'or add a line "// engine-matrix: server only — <why>" (test/setup/engine-matrix.ts)',
  );
});
