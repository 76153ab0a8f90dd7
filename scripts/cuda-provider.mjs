#!/usr/bin/env node
/**
 * onnxruntime-node 1.29.0 ships CPU binaries only; its own CUDA download happens in an install
 * script that needs the internet. The npm registry does carry ORT 1.29.0's CUDA provider
 * (built for CUDA 13 + cuDNN 9) inside the Unity package below. This script fetches it with
 * `npm pack` (cached), and installs the two provider libraries beside libonnxruntime.so.1,
 * which is all onnxruntime needs to load `executionProviders: ['cuda']` on a GPU host.
 *
 *   node scripts/cuda-provider.mjs install   # into node_modules/onnxruntime-node (GPU hosts)
 *   node scripts/cuda-provider.mjs check     # try a CUDA session and say what happened
 *   node scripts/cuda-provider.mjs remove
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
export const PROVIDER_LIBRARIES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function ortBinDir(ortPackageDir = path.join(root, 'node_modules/onnxruntime-node')) {
  return path.join(ortPackageDir, 'bin/napi-v6', process.platform, process.arch);
}

/** Fetches (once) and extracts the provider libraries; returns the folder holding them. */
export function fetchProviderLibraries(cacheDir = process.env.TOLLGATE_CACHE_DIR || '/var/tmp/tollgate-cache') {
  const out = path.join(cacheDir, 'cuda-provider-0.4.9');
  if (PROVIDER_LIBRARIES.every((f) => existsSync(path.join(out, f)))) return out;
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('the packaged CUDA provider is for linux-x64 only');
  mkdirSync(cacheDir, { recursive: true });
  let tgz = readdirSync(cacheDir).find((f) => f.startsWith('com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9') && f.endsWith('.tgz'));
  if (!tgz) {
    process.stderr.write(`[cuda-provider] fetching ${PROVIDER_PACKAGE} (179 MB) with npm pack\n`);
    tgz = execFileSync('npm', ['pack', PROVIDER_PACKAGE, '--silent', '--pack-destination', cacheDir], { encoding: 'utf8' }).trim().split('\n').at(-1);
  }
  const tmp = path.join(cacheDir, `extract-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(cacheDir, tgz), '-C', tmp, ...PROVIDER_LIBRARIES.map((f) => `package/Plugins/Linux/x64/${f}`)]);
  mkdirSync(out, { recursive: true });
  for (const f of PROVIDER_LIBRARIES) copyFileSync(path.join(tmp, 'package/Plugins/Linux/x64', f), path.join(out, f));
  rmSync(tmp, { recursive: true, force: true });
  return out;
}

export function installProviderLibraries(binDir = ortBinDir(), cacheDir) {
  const from = fetchProviderLibraries(cacheDir);
  for (const f of PROVIDER_LIBRARIES) copyFileSync(path.join(from, f), path.join(binDir, f));
  return binDir;
}

/**
 * Creates a CUDA session in a child process with the onnxruntime-node at `ortPackageDir` and
 * returns what happened. onnxruntime's JS error only says "Failed to load shared library"; the
 * library and the missing dependency are named in its native log on stderr.
 */
export function checkCudaSession({ ortPackageDir = path.join(root, 'node_modules/onnxruntime-node'), model }) {
  const code = `require(${JSON.stringify(ortPackageDir)}).InferenceSession.create(${JSON.stringify(model)}, { executionProviders: ['cuda'] })
    .then(() => { console.log('CUDA_SESSION_CREATED'); }, (e) => { console.log('CUDA_SESSION_FAILED ' + e.message); });`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
  const log = `${r.stdout}\n${r.stderr}`;
  return {
    created: r.stdout.includes('CUDA_SESSION_CREATED'),
    log,
    /** The shared object the dynamic loader could not find, e.g. libcublasLt.so.13. */
    missing: /with error: (?:[^\s:]*\/)?([^/\s:]+\.so[.\d]*): cannot open shared object file/.exec(log)?.[1] ?? null,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  const model = path.join(root, 'inference/models/mlp-demo/1/model.onnx');
  if (cmd === 'install') {
    process.stdout.write(`installed the CUDA provider into ${installProviderLibraries()}\n`);
  } else if (cmd === 'remove') {
    for (const f of PROVIDER_LIBRARIES) rmSync(path.join(ortBinDir(), f), { force: true });
    process.stdout.write('removed the CUDA provider libraries\n');
  } else if (cmd === 'check') {
    const r = checkCudaSession({ model });
    process.stdout.write(r.created ? 'CUDA session created: the GPU path works\n' : `CUDA session failed; missing: ${r.missing ?? 'see log'}\n${r.log}\n`);
    process.exit(r.created ? 0 : 1);
  } else {
    process.stderr.write('usage: node scripts/cuda-provider.mjs install|check|remove\n');
    process.exit(2);
  }
}
