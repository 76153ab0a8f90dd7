#!/usr/bin/env node
/**
 * Builds the generated models of the inference repository (git-ignored, rebuilt at setup):
 *   inference/models/mlp-demo   64 -> 128 -> 10 MLP (ReLU), dynamic batch dimension
 *   inference/models/mlp-large  512 -> 1024 -> 1024 -> 16 MLP, for the compute-bound benchmark
 * Weights come from a fixed-seed PRNG, so every machine builds byte-identical models.
 * Idempotent and fast: a model whose config carries the current generator stamp is skipped.
 * The packaged models (ocr-rec, ocr-cls, silero-vad) are not copied: their committed
 * config.json points into node_modules.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const GENERATOR = 'prepare-models/mlp v3';

const models = [
  { name: 'mlp-demo', seed: 42, layers: [64, 128, 10], maxBatch: 64, delayUs: 500, preferred: [16, 32, 64] },
  { name: 'mlp-large', seed: 7, layers: [512, 1024, 1024, 16], maxBatch: 64, delayUs: 1000, preferred: [32, 64] },
];

/** mulberry32: tiny deterministic PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function floatTensor(onnx, name, dims, values) {
  const buf = Buffer.from(new Float32Array(values).buffer); // little-endian on every supported platform
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: buf });
}

function valueInfo(onnx, name, dims) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  });
}

function buildMlp(onnx, { seed, layers }) {
  const rand = prng(seed);
  const initializer = [];
  const node = [];
  let x = 'input';
  for (let i = 0; i + 1 < layers.length; i++) {
    const [fin, fout] = [layers[i], layers[i + 1]];
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
    input: [valueInfo(onnx, 'input', ['batch', layers[0]])],
    output: [valueInfo(onnx, 'output', ['batch', layers[layers.length - 1]])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'tollgate-prepare-models',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function prepare(spec) {
  const dir = path.join(root, 'inference/models', spec.name);
  const configFile = path.join(dir, 'config.json');
  const modelFile = path.join(dir, '1', 'model.onnx');
  if (existsSync(configFile) && existsSync(modelFile)) {
    try {
      if (JSON.parse(readFileSync(configFile, 'utf8')).generator === GENERATOR) return false;
    } catch {
      // unreadable config: rebuild
    }
  }
  const { onnx } = require('onnx-proto');
  mkdirSync(path.dirname(modelFile), { recursive: true });
  writeAtomic(modelFile, buildMlp(onnx, spec));
  const config = {
    generator: GENERATOR,
    description: `MLP ${spec.layers.join('->')} (ReLU), fixed seed ${spec.seed}, built by scripts/prepare-models.mjs`,
    platform: 'onnxruntime_onnx',
    max_batch_size: spec.maxBatch,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [spec.layers[0]] }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [spec.layers[spec.layers.length - 1]] }],
    dynamic_batching: { max_queue_delay_microseconds: spec.delayUs, preferred_batch_size: spec.preferred, idle_dispatch: true },
    instance_count: 2,
    visibility: 'shared',
    pricing: { meter: 'items' },
  };
  // The config is written last: a model folder with a config is complete.
  writeAtomic(configFile, `${JSON.stringify(config, null, 2)}\n`);
  return true;
}

for (const spec of models) {
  const built = prepare(spec);
  console.log(`prepare-models: ${spec.name} ${built ? 'built' : 'up to date'}`);
}
