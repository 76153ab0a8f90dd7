/**
 * Serves the tenant console (built by console/build.mjs into dist/console) from the API role:
 * GET /console (and /console/) answers the page itself — 200 text/html, no redirect — and
 * /console/assets/<file> its bundled script and stylesheet. Every answer carries a strict
 * Content-Security-Policy: only this origin's script and style, fetches only to this origin
 * (/graphql), no frames, no inline code, and Trusted Types enforced so markup can never be
 * assigned from strings. The files are read once at start-up; nothing else on disk is served.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { packageRoot } from '../src/shared/index.js';

export const consoleCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export const defaultConsoleDir = (): string => path.join(packageRoot(), 'dist/console');

interface Loaded {
  index: Buffer;
  assets: Map<string, { body: Buffer; type: string }>;
}

function load(dir: string): Loaded | null {
  const indexFile = path.join(dir, 'index.html');
  if (!fs.existsSync(indexFile)) return null;
  const assets = new Map<string, { body: Buffer; type: string }>();
  const assetDir = path.join(dir, 'assets');
  for (const name of fs.existsSync(assetDir) ? fs.readdirSync(assetDir) : []) {
    const type = TYPES[path.extname(name)];
    if (type && /^[A-Za-z0-9._-]+$/.test(name)) assets.set(name, { body: fs.readFileSync(path.join(assetDir, name)), type });
  }
  return { index: fs.readFileSync(indexFile), assets };
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', consoleCsp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}

/** Adds the console's routes to the API role's fastify app (before it listens). */
export function registerConsole(app: FastifyInstance, opts: { dir?: string } = {}): { built: boolean } {
  const dir = opts.dir ?? defaultConsoleDir();
  const files = load(dir);
  const page = async (_req: unknown, reply: FastifyReply) => {
    secure(reply).header('cache-control', 'no-store');
    if (!files) return reply.code(503).type('text/plain; charset=utf-8').send(`the console is not built (no ${path.join(dir, 'index.html')}): run node console/build.mjs (npm test and npm run up do)\n`);
    return reply.code(200).type('text/html; charset=utf-8').send(files.index);
  };
  app.get('/console', page);
  app.get('/console/', page);
  app.get<{ Params: { file: string } }>('/console/assets/:file', async (req, reply) => {
    secure(reply);
    const asset = files?.assets.get(req.params.file);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    return reply.code(200).type(asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
  return { built: files !== null };
}
