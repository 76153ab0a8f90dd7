/**
 * Decodes and validates an OIP v2 inference request (JSON, optionally followed by Triton
 * binary tensor data) against a model's config. Every check that bounds memory runs before
 * anything is allocated for the tensor, so a tiny body cannot make us allocate a huge shape.
 */
import { badInput } from '../../../src/shared/index.js';
import { classesPerItem, fullShape, type ModelConfig, type TensorSpec } from '../repository/config.js';
import { datatypeInfo, isDatatype, toHalf, type Datatype } from './datatypes.js';

export type Scalar = string | number | boolean;

export interface DecodedInput {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Little-endian tensor bytes (a private copy, safe to transfer), or strings for BYTES. */
  data: Uint8Array | string[];
  byteLength: number;
}

export interface RequestedOutput {
  name: string;
  binary: boolean | undefined;
  /** Triton's classification extension: answer the top-k classes of each item instead of the tensor. */
  classification?: number;
}

export interface DecodedRequest {
  id: string | undefined;
  parameters: Record<string, Scalar>;
  /** In the model config's input order. */
  inputs: DecodedInput[];
  /** Requested outputs (all model outputs when the request names none). */
  outputs: RequestedOutput[];
  binaryOutput: boolean;
  /** Size of the batch dimension (1 when the model does not batch). */
  items: number;
  /** Non-batch dimensions of every input; only requests with equal signatures share a batch. */
  signature: string;
  inputBytes: number;
}

const MAX_RANK = 8;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseParameters(v: unknown, where: string): Record<string, Scalar> {
  if (v === undefined) return {};
  if (!isObject(v)) throw badInput(`${where}: "parameters" must be an object`);
  const out: Record<string, Scalar> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') throw badInput(`${where}: parameter "${k.slice(0, 64)}" must be a string, number or boolean`);
    out[k] = val;
  }
  return out;
}

function checkShape(name: string, shape: unknown, expected: number[], config: ModelConfig): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_RANK) throw badInput(`input "${name}": "shape" must be an array of at most ${MAX_RANK} dimensions`);
  for (const d of shape) if (!Number.isSafeInteger(d) || (d as number) < 1) throw badInput(`input "${name}": every dimension must be a positive integer`);
  const dims = shape as number[];
  if (dims.length !== expected.length) throw badInput(`input "${name}": shape [${dims.join(',')}] does not match the model's [${expected.join(',')}]`);
  dims.forEach((d, i) => {
    if (expected[i] !== -1 && expected[i] !== d) throw badInput(`input "${name}": shape [${dims.join(',')}] does not match the model's [${expected.join(',')}]`);
  });
  if (config.max_batch_size > 0 && dims[0]! > config.max_batch_size) throw badInput(`input "${name}": batch size ${dims[0]} exceeds the model's max_batch_size ${config.max_batch_size}`);
  return dims;
}

function elementCount(dims: number[], limit: number, name: string): number {
  let n = 1;
  for (const d of dims) {
    n *= d;
    if (n > limit) throw badInput(`input "${name}": shape [${dims.join(',')}] holds more elements than the request can carry`);
  }
  return n;
}

/** Flattens nested JSON data without recursion, stopping as soon as it exceeds `count` leaves. */
function flatten(data: unknown, count: number, maxDepth: number, name: string): unknown[] {
  if (!Array.isArray(data)) {
    if (count === 1 && (typeof data === 'number' || typeof data === 'boolean' || typeof data === 'string')) return [data];
    throw badInput(`input "${name}": "data" must be an array`);
  }
  const out: unknown[] = [];
  const stack: { arr: unknown[]; i: number }[] = [{ arr: data, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const v = top.arr[top.i++];
    if (Array.isArray(v)) {
      if (stack.length > maxDepth) throw badInput(`input "${name}": "data" is nested deeper than its shape`);
      stack.push({ arr: v, i: 0 });
    } else {
      if (out.length >= count) throw badInput(`input "${name}": data has more elements than its shape (${count})`);
      out.push(v);
    }
  }
  if (out.length !== count) throw badInput(`input "${name}": data has ${out.length} elements, its shape needs ${count}`);
  return out;
}

function encodeJsonData(name: string, dt: Datatype, values: unknown[]): Uint8Array | string[] {
  const info = datatypeInfo[dt];
  const bad = (i: number, what: string) => badInput(`input "${name}": element ${i} is not ${what}`);
  if (info.kind === 'bytes') {
    return values.map((v, i) => {
      if (typeof v !== 'string') throw bad(i, 'a string');
      return v;
    });
  }
  const bytes = new Uint8Array(values.length * info.size);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (info.kind) {
      case 'bool':
        if (typeof v === 'boolean') bytes[i] = v ? 1 : 0;
        else if (v === 0 || v === 1) bytes[i] = v;
        else throw bad(i, 'a boolean');
        break;
      case 'float':
      case 'half': {
        if (typeof v !== 'number') throw bad(i, 'a number');
        if (dt === 'FP32') dv.setFloat32(i * 4, v, true);
        else if (dt === 'FP64') dv.setFloat64(i * 8, v, true);
        else dv.setUint16(i * 2, toHalf(v), true);
        break;
      }
      case 'int':
      case 'bigint': {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < info.min! || v > info.max!) throw bad(i, `an integer in the ${dt} range`);
        switch (dt) {
          case 'UINT8':
            dv.setUint8(i, v);
            break;
          case 'INT8':
            dv.setInt8(i, v);
            break;
          case 'UINT16':
            dv.setUint16(i * 2, v, true);
            break;
          case 'INT16':
            dv.setInt16(i * 2, v, true);
            break;
          case 'UINT32':
            dv.setUint32(i * 4, v, true);
            break;
          case 'INT32':
            dv.setInt32(i * 4, v, true);
            break;
          case 'UINT64':
            dv.setBigUint64(i * 8, BigInt(v), true);
            break;
          case 'INT64':
            dv.setBigInt64(i * 8, BigInt(v), true);
            break;
        }
        break;
      }
    }
  }
  return bytes;
}

function decodeBinaryBytesTensor(name: string, chunk: Uint8Array, count: number): string[] {
  const out: string[] = [];
  const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let off = 0;
  while (off < chunk.byteLength) {
    if (off + 4 > chunk.byteLength) throw badInput(`input "${name}": truncated BYTES element length`);
    const len = dv.getUint32(off, true);
    off += 4;
    if (off + len > chunk.byteLength) throw badInput(`input "${name}": BYTES element overruns its binary_data_size`);
    if (out.length >= count) throw badInput(`input "${name}": more BYTES elements than its shape`);
    out.push(Buffer.from(chunk.buffer, chunk.byteOffset + off, len).toString('utf8'));
    off += len;
  }
  if (out.length !== count) throw badInput(`input "${name}": ${out.length} BYTES elements, its shape needs ${count}`);
  return out;
}

/** Splits a body into its JSON header and binary tail using Inference-Header-Content-Length. */
export function splitBody(body: Buffer, headerLength: string | string[] | undefined): { json: Buffer; binary: Buffer } {
  if (headerLength === undefined) return { json: body, binary: body.subarray(body.length) };
  const raw = Array.isArray(headerLength) ? headerLength[0] : headerLength;
  if (raw === undefined || !/^[0-9]{1,12}$/.test(raw.trim())) throw badInput('Inference-Header-Content-Length must be a non-negative integer');
  const n = Number(raw.trim());
  if (n > body.length) throw badInput(`Inference-Header-Content-Length ${n} exceeds the body length ${body.length}`);
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

export function parseJsonHeader(json: Buffer): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw badInput(`malformed JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (!isObject(doc)) throw badInput('the request body must be a JSON object');
  return doc;
}

export function decodeInferRequest(doc: Record<string, unknown>, binary: Buffer, jsonLength: number, config: ModelConfig): DecodedRequest {
  const id = doc.id;
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 256)) throw badInput('"id" must be a string of 1 to 256 characters');
  const parameters = parseParameters(doc.parameters, 'request');
  const binaryOutput = parameters.binary_data_output === true;

  if (!Array.isArray(doc.inputs) || doc.inputs.length === 0) throw badInput('"inputs" must be a non-empty array');
  if (doc.inputs.length > config.inputs.length) throw badInput(`too many inputs: the model takes ${config.inputs.length}`);
  const specs = new Map<string, TensorSpec>(config.inputs.map((s) => [s.name, s]));
  const seen = new Map<string, DecodedInput>();
  let offset = 0;
  let batch: number | undefined;
  // A JSON element needs at least one byte of text; a binary element its full size.
  const jsonLimit = Math.max(1, jsonLength);

  for (const raw of doc.inputs) {
    if (!isObject(raw)) throw badInput('each input must be an object');
    const name = raw.name;
    if (typeof name !== 'string') throw badInput('each input needs a string "name"');
    const spec = specs.get(name);
    if (!spec) throw badInput(`unexpected input "${name.slice(0, 128)}": the model's inputs are ${config.inputs.map((s) => s.name).join(', ')}`);
    if (seen.has(name)) throw badInput(`duplicate input "${name}"`);
    if (!isDatatype(raw.datatype)) throw badInput(`input "${name}": unknown datatype ${JSON.stringify(raw.datatype)?.slice(0, 32)}`);
    if (raw.datatype !== spec.datatype) throw badInput(`input "${name}": datatype ${raw.datatype} does not match the model's ${spec.datatype}`);
    const dt: Datatype = raw.datatype;
    const dims = checkShape(name, raw.shape, fullShape(config, spec), config);
    if (config.max_batch_size > 0) {
      if (batch !== undefined && dims[0] !== batch) throw badInput(`input "${name}": batch dimension ${dims[0]} differs from the other inputs' ${batch}`);
      batch = dims[0];
    }
    const params = parseParameters(raw.parameters, `input "${name}"`);
    if (params.shared_memory_region !== undefined) throw badInput(`input "${name}": Triton's shared-memory extension is not supported; send the tensor as JSON data or binary data`);
    const info = datatypeInfo[dt];
    let data: Uint8Array | string[];
    if (params.binary_data_size !== undefined) {
      const size = params.binary_data_size;
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw badInput(`input "${name}": binary_data_size must be a non-negative integer`);
      if (raw.data !== undefined) throw badInput(`input "${name}": has both "data" and binary_data_size`);
      if (offset + size > binary.length) throw badInput(`input "${name}": binary_data_size ${size} runs past the end of the binary data (${binary.length - offset} bytes left)`);
      const count = elementCount(dims, info.size > 0 ? Math.floor(size / info.size) : size / 4, name);
      const chunk = binary.subarray(offset, offset + size);
      offset += size;
      if (dt === 'BYTES') data = decodeBinaryBytesTensor(name, chunk, count);
      else {
        if (count * info.size !== size) throw badInput(`input "${name}": binary_data_size ${size} does not match shape [${dims.join(',')}] of ${dt} (${count * info.size} bytes)`);
        data = new Uint8Array(chunk); // private, aligned copy that can be transferred to a worker
      }
    } else {
      if (raw.data === undefined) throw badInput(`input "${name}": missing "data" (or binary_data_size)`);
      const count = elementCount(dims, jsonLimit, name);
      data = encodeJsonData(name, dt, flatten(raw.data, count, dims.length, name));
    }
    seen.set(name, { name, datatype: dt, shape: dims, data, byteLength: Array.isArray(data) ? data.reduce((n, s) => n + Buffer.byteLength(s), 0) : data.byteLength });
  }
  if (offset !== binary.length) throw badInput(`binary data is ${binary.length} bytes but the inputs' binary_data_size add up to ${offset}`);
  const missing = config.inputs.filter((s) => !seen.has(s.name)).map((s) => s.name);
  if (missing.length > 0) throw badInput(`missing input(s): ${missing.join(', ')}`);

  const outputs = decodeOutputs(doc.outputs, config);
  const inputs = config.inputs.map((s) => seen.get(s.name)!);
  const signature = inputs.map((t) => (config.max_batch_size > 0 ? t.shape.slice(1) : t.shape).join('x')).join('|');
  return {
    id: id as string | undefined,
    parameters,
    inputs,
    outputs,
    binaryOutput,
    items: config.max_batch_size > 0 ? batch! : declaredItems(inputs, config),
    signature,
    inputBytes: inputs.reduce((n, t) => n + t.byteLength, 0),
  };
}

/**
 * Items of an unbatched request: the size of each input's declared batch axis (`batch_axes`),
 * which must agree — a 64-stream silero-vad request is 64 items, not 1. 1 without declared axes.
 */
function declaredItems(inputs: DecodedInput[], config: ModelConfig): number {
  let items: number | undefined;
  let first = '';
  for (const [name, axis] of Object.entries(config.batch_axes ?? {})) {
    const t = inputs.find((x) => x.name === name);
    if (!t) continue;
    const n = t.shape[axis]!;
    if (items === undefined) [items, first] = [n, name];
    else if (n !== items) throw badInput(`input "${name}": its batch axis ${axis} is ${n} but input "${first}" carries ${items} items; they must agree`);
  }
  return items ?? 1;
}

/**
 * A classification count must be a positive integer, for a numeric output, at most the classes
 * per item when the config fixes them (otherwise it is checked against the real output).
 */
function checkClassification(name: string, k: Scalar, config: ModelConfig): number {
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) throw badInput(`output "${name}": parameter classification must be a positive integer (the number of top classes), got ${JSON.stringify(k).slice(0, 32)}`);
  const spec = config.outputs.find((o) => o.name === name)!;
  if (spec.datatype === 'BOOL' || spec.datatype === 'BYTES') throw badInput(`output "${name}": classification needs a numeric output, this one is ${spec.datatype}`);
  const classes = classesPerItem(spec.shape);
  if (classes !== undefined && k > classes) throw badInput(`output "${name}": classification ${k} exceeds its ${classes} classes`);
  return k;
}

function decodeOutputs(raw: unknown, config: ModelConfig): RequestedOutput[] {
  if (raw === undefined) return config.outputs.map((o) => ({ name: o.name, binary: undefined }));
  if (!Array.isArray(raw) || raw.length > config.outputs.length) throw badInput(`"outputs" must be an array of at most ${config.outputs.length} outputs`);
  const known = new Set(config.outputs.map((o) => o.name));
  const seen = new Set<string>();
  const out: RequestedOutput[] = [];
  for (const o of raw) {
    if (!isObject(o) || typeof o.name !== 'string') throw badInput('each requested output needs a string "name"');
    if (!known.has(o.name)) throw badInput(`unknown output "${o.name.slice(0, 128)}": the model's outputs are ${[...known].join(', ')}`);
    if (seen.has(o.name)) throw badInput(`output "${o.name}" requested twice`);
    seen.add(o.name);
    const params = parseParameters(o.parameters, `output "${o.name}"`);
    if (params.shared_memory_region !== undefined) throw badInput(`output "${o.name}": Triton's shared-memory extension is not supported`);
    const b = params.binary_data;
    if (b !== undefined && typeof b !== 'boolean') throw badInput(`output "${o.name}": binary_data must be a boolean`);
    const k = params.classification;
    if (k === undefined) out.push({ name: o.name, binary: b });
    else out.push({ name: o.name, binary: b, classification: checkClassification(o.name, k, config) });
  }
  return out;
}
