/**
 * No GPU is reachable from these machines, so the CUDA path is verified up to the library
 * load: with ORT 1.29.0's packaged CUDA provider installed beside libonnxruntime (in an
 * isolated copy of onnxruntime-node, so other tests keep the stock CPU package), creating a
 * CUDA session gets past loading the provider and stops at the CUDA runtime libraries this
 * machine lacks. Without the provider it stops one step earlier, at the provider itself.
 */
import { copyFileSync, cpSync, linkSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
// A plain .mjs script (it also runs as a CLI on GPU hosts).
import { checkCudaSession, installProviderLibraries, ortBinDir } from '../../scripts/cuda-provider.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const stockOrt = path.join(root, 'node_modules/onnxruntime-node');
const model = path.join(root, 'inference/models/mlp-demo/1/model.onnx');
const copy = path.join(path.resolve(root, loadConfig().TOLLGATE_STATE_DIR), 'cuda-check/onnxruntime-node');

/** An onnxruntime-node package of our own: same JS and native binaries (hard links), plus the CUDA provider. */
function isolatedOrtWithProvider(): string {
  rmSync(copy, { recursive: true, force: true });
  for (const part of ['package.json', 'dist', 'lib']) cpSync(path.join(stockOrt, part), path.join(copy, part), { recursive: true });
  const bin = ortBinDir(copy);
  mkdirSync(bin, { recursive: true });
  for (const f of readdirSync(ortBinDir(stockOrt))) {
    const [from, to] = [path.join(ortBinDir(stockOrt), f), path.join(bin, f)];
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to); // another file system
    }
  }
  installProviderLibraries(bin);
  return copy;
}

afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('CUDA execution provider (no GPU here: verified up to the library load)', () => {
  it('the stock package has no CUDA provider library', () => {
    const r = checkCudaSession({ model, ortPackageDir: stockOrt });
    expect(r.created).toBe(false);
    expect(r.missing).toMatch(/^libonnxruntime_providers_(shared|cuda)\.so$/);
  });

  it('with the packaged provider installed, the provider loads and stops at the missing CUDA runtime', () => {
    const r = checkCudaSession({ model, ortPackageDir: isolatedOrtWithProvider() });
    expect(r.log).toContain('libonnxruntime_providers_cuda.so');
    // The provider itself was found and opened; what is missing is CUDA 13's own libraries (no GPU stack here).
    expect(r.created).toBe(false);
    expect(r.missing).toMatch(/^lib(cublasLt|cublas|cudart|curand|cudnn)[^/]*\.so\.\d+$/);
  }, 180_000);
});
