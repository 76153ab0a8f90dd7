/**
 * Models at start-up: `tollgate serve` builds the missing generated models of the shipped
 * repository (and only of that one), and the inference role names every configured model it
 * cannot serve — once, not on every rescan.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareServedModels } from '../../app/models.js';
import { addModel, get, infer, mlpRequest, prng, staticKeys, startServer } from '../inference/helpers.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'tollgate-serve-models-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A pino logger whose JSON lines are kept for assertions. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('serve prepares the built-in models', () => {
  it('builds what the shipped repository lacks, once, and the inference role then serves it', async () => {
    const shipped = tempDir();
    const { logger, lines } = capturingLogger();
    prepareServedModels({ repository: shipped, shipped, logger });
    expect(lines.filter((l) => l.msg === 'built-in model prepared').map((l) => l.model)).toEqual(['mlp-demo', 'mlp-large']);
    prepareServedModels({ repository: `${shipped}/`, shipped, logger });
    expect(lines.filter((l) => l.msg === 'built-in model prepared')).toHaveLength(2);

    const keys = staticKeys();
    const alice = keys.add();
    const srv = await startServer({ repo: shipped, authenticate: keys.authenticate });
    try {
      const res = await infer(srv.base, 'mlp-demo', mlpRequest(prng(1), 2), { key: alice.secret });
      expect([res.status, res.json.outputs[0].shape]).toEqual([200, [2, 10]]);
    } finally {
      await srv.close();
    }
  });

  it('never writes into a repository configured elsewhere', () => {
    const shipped = tempDir();
    const own = tempDir();
    const { logger } = capturingLogger();
    prepareServedModels({ repository: own, shipped, logger });
    expect(readdirSync(own)).toEqual([]);
    expect(readdirSync(shipped)).toEqual([]);
  });
});

describe('start-up log of models that cannot be served', () => {
  it('names each configured model with missing files once, and in one start-up summary', async () => {
    const repo = tempDir();
    prepareServedModels({ repository: repo, shipped: repo, logger: pino({ level: 'silent' }) });
    mkdirSync(path.join(repo, 'no-file'));
    writeFileSync(path.join(repo, 'no-file', 'config.json'), JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [64] }], outputs: [{ name: 'output', datatype: 'FP32', shape: [10] }] }));
    addModel(repo, { from: 'mlp-demo', as: 'no-labels', config: { outputs: [{ name: 'output', datatype: 'FP32', shape: [10], label_filename: 'labels.txt' }] } });
    const { logger, lines } = capturingLogger();
    const keys = staticKeys();
    const alice = keys.add();
    const srv = await startServer({ repo, logger, authenticate: keys.authenticate });
    try {
      const summary = lines.find((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes('not served'));
      expect(summary?.msg).toBe('2 configured model(s) not served: no-file, no-labels');
      expect(summary?.skipped).toEqual([
        { model: 'no-file', error: expect.stringContaining('no model file: expected') },
        { model: 'no-labels', error: 'output output: label_filename labels.txt not found' },
      ]);
      await srv.server.reload();
      await srv.server.reload();
      const perModel = lines.filter((l) => l.msg === 'model repository entry skipped (not served)');
      expect(perModel.map((l) => l.model)).toEqual(['no-file', 'no-labels']);
      // Fixing the folder is picked up by the next rescan.
      writeFileSync(path.join(repo, 'no-labels', 'labels.txt'), `${'abcdefghij'.split('').join('\n')}\n`);
      expect((await get(srv.base, '/v2/models/no-labels', alice.secret)).status).toBe(404);
      await srv.server.reload();
      expect((await get(srv.base, '/v2/models/no-labels', alice.secret)).status).toBe(200);
    } finally {
      await srv.close();
    }
  });
});
