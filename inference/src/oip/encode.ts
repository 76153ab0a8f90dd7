/** Encodes an OIP v2 inference response as JSON, or JSON + Triton binary tensor data. */
import { fromHalf, typedView, type Datatype } from './datatypes.js';
import type { RequestedOutput, Scalar } from './decode.js';

export interface OutputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: Uint8Array | string[];
  /** JSON text of `data`, when the session worker already formatted it. */
  jsonText?: string;
}

export interface EncodedResponse {
  body: Buffer | string;
  contentType: string;
  /** Set when binary tensors follow the JSON header. */
  headerLength?: number;
  outputBytes: number;
}

/** Elements encoded per event-loop turn: large JSON outputs are written in slices so one big answer does not stall other requests. */
const JSON_SLICE = 8_192;

function jsonSlice(t: OutputTensor, view: ArrayLike<unknown> | undefined, from: number, to: number): unknown[] {
  if (Array.isArray(t.data)) return t.data.slice(from, to);
  const v = view as never;
  switch (t.datatype) {
    case 'BOOL':
      return Array.from((v as Uint8Array).subarray(from, to), (x) => x !== 0);
    case 'FP16':
      return Array.from((v as Uint16Array).subarray(from, to), fromHalf);
    case 'INT64':
    case 'UINT64':
      return Array.from((v as BigInt64Array).subarray(from, to), (x) => Number(x));
    default:
      return Array.from((v as Float32Array).subarray(from, to));
  }
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** JSON text of a tensor's flat data, yielding to the event loop between slices. */
async function jsonDataText(t: OutputTensor): Promise<string> {
  const view = Array.isArray(t.data) ? undefined : (typedView(t.datatype, t.data) as unknown as ArrayLike<unknown>);
  const n = Array.isArray(t.data) ? t.data.length : view!.length;
  if (n <= JSON_SLICE) return JSON.stringify(jsonSlice(t, view, 0, n));
  const parts: string[] = [];
  for (let i = 0; i < n; i += JSON_SLICE) {
    if (i > 0) await yieldTurn();
    parts.push(JSON.stringify(jsonSlice(t, view, i, Math.min(n, i + JSON_SLICE))).slice(1, -1));
  }
  return `[${parts.join(',')}]`;
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

export async function encodeInferResponse(opts: {
  modelName: string;
  modelVersion: string;
  id: string;
  parameters: Record<string, Scalar>;
  requested: RequestedOutput[];
  binaryOutput: boolean;
  tensors: Map<string, OutputTensor>;
}): Promise<EncodedResponse> {
  const outputs: string[] = [];
  const chunks: Buffer[] = [];
  let outputBytes = 0;
  for (const r of opts.requested) {
    const t = opts.tensors.get(r.name);
    if (!t) continue;
    const binary = r.binary ?? opts.binaryOutput;
    const size = Array.isArray(t.data) ? t.data.reduce((n, s) => n + 4 + Buffer.byteLength(s), 0) : t.data.byteLength;
    outputBytes += size;
    const head = JSON.stringify({ name: t.name, datatype: t.datatype, shape: t.shape }).slice(0, -1);
    if (binary) {
      const b = binaryData(t);
      chunks.push(b);
      outputs.push(`${head},"parameters":{"binary_data_size":${b.length}}}`);
    } else {
      outputs.push(`${head},"data":${t.jsonText ?? (await jsonDataText(t))}}`);
    }
  }
  const doc: Record<string, unknown> = { model_name: opts.modelName, model_version: opts.modelVersion, id: opts.id };
  if (Object.keys(opts.parameters).length > 0) doc.parameters = opts.parameters;
  const json = `${JSON.stringify(doc).slice(0, -1)},"outputs":[${outputs.join(',')}]}`;
  if (chunks.length === 0) return { body: json, contentType: 'application/json', outputBytes };
  const head = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([head, ...chunks]), contentType: 'application/octet-stream', headerLength: head.length, outputBytes };
}
