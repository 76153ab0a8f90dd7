/** Encodes an OIP v2 inference response as JSON, or JSON + Triton binary tensor data. */
import { fromHalf, typedView, type Datatype } from './datatypes.js';
import type { RequestedOutput, Scalar } from './decode.js';

export interface OutputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: Uint8Array | string[];
}

export interface EncodedResponse {
  body: Buffer | string;
  contentType: string;
  /** Set when binary tensors follow the JSON header. */
  headerLength?: number;
  outputBytes: number;
}

function jsonData(t: OutputTensor): unknown[] {
  if (Array.isArray(t.data)) return t.data;
  const view = typedView(t.datatype, t.data);
  switch (t.datatype) {
    case 'BOOL':
      return Array.from(view as Uint8Array, (v) => v !== 0);
    case 'FP16':
      return Array.from(view as Uint16Array, fromHalf);
    case 'INT64':
    case 'UINT64':
      return Array.from(view as BigInt64Array, (v) => Number(v));
    default:
      return Array.from(view as Float32Array);
  }
}

function binaryData(t: OutputTensor): Buffer {
  if (!Array.isArray(t.data)) return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const parts: Buffer[] = [];
  for (const s of t.data) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

export function encodeInferResponse(opts: {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, Scalar>;
  requested: RequestedOutput[];
  binaryOutput: boolean;
  tensors: Map<string, OutputTensor>;
}): EncodedResponse {
  const outputs: Record<string, unknown>[] = [];
  const chunks: Buffer[] = [];
  let outputBytes = 0;
  for (const r of opts.requested) {
    const t = opts.tensors.get(r.name);
    if (!t) continue;
    const binary = r.binary ?? opts.binaryOutput;
    const size = Array.isArray(t.data) ? t.data.reduce((n, s) => n + 4 + Buffer.byteLength(s), 0) : t.data.byteLength;
    outputBytes += size;
    if (binary) {
      const b = binaryData(t);
      chunks.push(b);
      outputs.push({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: b.length } });
    } else {
      outputs.push({ name: t.name, datatype: t.datatype, shape: t.shape, data: jsonData(t) });
    }
  }
  const doc: Record<string, unknown> = { model_name: opts.modelName, model_version: opts.modelVersion, id: opts.id };
  if (Object.keys(opts.parameters).length > 0) doc.parameters = opts.parameters;
  doc.outputs = outputs;
  const json = JSON.stringify(doc);
  if (chunks.length === 0) return { body: json, contentType: 'application/json', outputBytes };
  const head = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([head, ...chunks]), contentType: 'application/octet-stream', headerLength: head.length, outputBytes };
}

