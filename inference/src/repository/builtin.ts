/**
 * The generated models of the shipped repository (git-ignored, built on demand):
 *   mlp-demo   64 -> 128 -> 10 MLP (ReLU), dynamic batch dimension
 *   mlp-large  512 -> 1024 -> 1024 -> 16 MLP, for the compute-bound benchmark
 * Weights come from a fixed-seed PRNG, so every machine builds byte-identical models.
 * Idempotent and fast: a model whose config carries the current generator stamp is skipped.
 * `tollgate models prepare`, `tollgate serve` (shipped repository only) and
 * scripts/prepare-models.mjs (npm test, npm run up) call it. The packaged models (ocr-rec,
 * ocr-cls, silero-vad) need nothing: their committed config.json points into node_modules.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../../../src/shared/index.js';

export const GENERATOR = 'prepare-models/mlp v3';

interface MlpSpec {
  name: string;
  seed: number;
  layers: number[];
  maxBatch: number;
  delayUs: number;
  preferred: number[];
}

export const builtinModels: readonly MlpSpec[] = [
  { name: 'mlp-demo', seed: 42, layers: [64, 128, 10], maxBatch: 64, delayUs: 500, preferred: [16, 32, 64] },
  { name: 'mlp-large', seed: 7, layers: [512, 1024, 1024, 16], maxBatch: 64, delayUs: 1000, preferred: [32, 64] },
];

/** The repository shipped in this checkout (inference/models), wherever this module runs from (src or dist). */
export function shippedRepository(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root above inference/src');
    dir = up;
  }
  return path.join(dir, 'inference', 'models');
}

type Onnx = typeof import('onnx-proto').onnx;

function floatTensor(onnx: Onnx, name: string, dims: number[], values: number[]) {
  const rawData = Buffer.from(new Float32Array(values).buffer); // little-endian on every supported platform
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData });
}

function valueInfo(onnx: Onnx, name: string, dims: (number | string)[]) {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } });
}

function buildMlp(onnx: Onnx, { seed, layers }: MlpSpec): Uint8Array {
  const rand = prng(seed);
  const initializer = [];
  const node = [];
  let x = 'input';
  for (let i = 0; i + 1 < layers.length; i++) {
    const [fin, fout] = [layers[i]!, layers[i + 1]!];
    const scale = 1 / Math.sqrt(fin);
    const w = Array.from({ length: fin * fout }, () => (rand() * 2 - 1) * scale);
    const b = Array.from({ length: fout }, () => (rand() * 2 - 1) * 0.1);
    initializer.push(floatTensor(onnx, `W${i}`, [fin, fout], w), floatTensor(onnx, `B${i}`, [fout], b));
    const last = i + 2 === layers.length;
    const out = last ? 'output' : `h${i}`;
    node.push(onnx.NodeProto.create({ opType: 'Gemm', input: [x, `W${i}`, `B${i}`], output: [last ? out : `${out}_pre`], name: `gemm${i}` }));
    if (!last) node.push(onnx.NodeProto.create({ opType: 'Relu', input: [`${out}_pre`], output: [out], name: `relu${i}` }));
    x = out;
  }
  const graph = onnx.GraphProto.create({
    name: 'mlp',
    node,
    initializer,
    input: [valueInfo(onnx, 'input', ['batch', layers[0]!])],
    output: [valueInfo(onnx, 'output', ['batch', layers[layers.length - 1]!])],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'tollgate-prepare-models', opsetImport: [{ domain: '', version: 13 }], graph });
  return onnx.ModelProto.encode(model).finish();
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function upToDate(configFile: string, modelFile: string): boolean {
  if (!existsSync(configFile) || !existsSync(modelFile)) return false;
  try {
    return (JSON.parse(readFileSync(configFile, 'utf8')) as { generator?: unknown }).generator === GENERATOR;
  } catch {
    return false; // unreadable config: rebuild
  }
}

function prepare(repository: string, spec: MlpSpec): boolean {
  const dir = path.join(repository, spec.name);
  const configFile = path.join(dir, 'config.json');
  const modelFile = path.join(dir, '1', 'model.onnx');
  if (upToDate(configFile, modelFile)) return false;
  // onnx-proto is loaded only when a model must be built.
  const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto');
  mkdirSync(path.dirname(modelFile), { recursive: true });
  writeAtomic(modelFile, buildMlp(onnx, spec));
  const config = {
    generator: GENERATOR,
    description: `MLP ${spec.layers.join('->')} (ReLU), fixed seed ${spec.seed}, built by Tollgate (inference/src/repository/builtin.ts)`,
    platform: 'onnxruntime_onnx',
    max_batch_size: spec.maxBatch,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [spec.layers[0]] }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [spec.layers[spec.layers.length - 1]] }],
    dynamic_batching: { max_queue_delay_microseconds: spec.delayUs, preferred_batch_size: spec.preferred, idle_dispatch: true },
    instance_count: 2,
    visibility: 'shared',
  };
  // The config is written last: a model folder with a config is complete.
  writeAtomic(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return true;
}

/** Builds the generated models missing from (or outdated in) `repository`; reports what it did. */
export function prepareBuiltinModels(repository = shippedRepository()): { name: string; built: boolean }[] {
  return builtinModels.map((spec) => ({ name: spec.name, built: prepare(repository, spec) }));
}
