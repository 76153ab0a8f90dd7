/**
 * The wire format of Triton's Python HTTP client (`tritonclient.http`, triton-inference-server/
 * client: http/_client.py, _utils.py, _infer_input.py, _requested_output.py, _infer_result.py),
 * reproduced byte for byte where it matters, since no Python client can be installed here:
 * - body: compact JSON (python-rapidjson, ASCII-escaped) {"id"?, "inputs", "outputs"?,
 *   "parameters"?}, followed by the inputs' raw bytes; inputs carry
 *   parameters.binary_data_size, requested outputs parameters {"classification"?, "binary_data"};
 *   with no outputs named, parameters.binary_data_output = true;
 * - headers: no Content-Type; Inference-Header-Content-Length = the JSON's length when binary
 *   data follows; request_compression_algorithm gzip (gzip.compress) or deflate (zlib.compress)
 *   with Content-Encoding; response_compression_algorithm sets Accept-Encoding;
 * - answer: decompressed when Content-Encoding is exactly "gzip" or "deflate", then the JSON
 *   header (Inference-Header-Content-Length) and the binary outputs in order; errors are
 *   {"error"} bodies of non-200 answers.
 */
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { rawRequest, type RawReply } from './helpers.js';

export interface TritonInput {
  name: string;
  shape: number[];
  datatype: string;
  /** set_data_from_numpy(binary_data=True): the tensor's bytes. */
  raw?: Buffer;
  /** set_data_from_numpy(binary_data=False): the flattened values. */
  data?: unknown[];
}

export interface TritonRequestedOutput {
  name: string;
  /** InferRequestedOutput(binary_data=True) is the client's default. */
  binaryData?: boolean;
  classCount?: number;
}

/** python-rapidjson's dumps (ensure_ascii): compact, non-ASCII as \uXXXX. */
function dumps(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** _get_inference_request: the body and the JSON size (null when the JSON is the whole body). */
export function tritonRequestBody(inputs: TritonInput[], outputs?: TritonRequestedOutput[], opts: { requestId?: string; parameters?: Record<string, unknown> } = {}): { body: Buffer; jsonSize: number | null } {
  const request: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  if (opts.requestId) request.id = opts.requestId;
  request.inputs = inputs.map((i) => {
    const t: Record<string, unknown> = { name: i.name, shape: i.shape, datatype: i.datatype };
    if (i.raw) t.parameters = { binary_data_size: i.raw.length };
    else t.data = i.data;
    return t;
  });
  if (outputs && outputs.length > 0) {
    request.outputs = outputs.map((o) => {
      const p: Record<string, unknown> = {};
      if (o.classCount) p.classification = o.classCount;
      p.binary_data = o.binaryData ?? true;
      return { name: o.name, parameters: p };
    });
  } else parameters.binary_data_output = true;
  Object.assign(parameters, opts.parameters);
  if (Object.keys(parameters).length > 0) request.parameters = parameters;
  const json = dumps(request);
  const raws = inputs.flatMap((i) => (i.raw ? [i.raw] : []));
  if (raws.length === 0) return { body: Buffer.from(json), jsonSize: null };
  return { body: Buffer.concat([Buffer.from(json), ...raws]), jsonSize: json.length };
}

export interface TritonInferOptions {
  key: string;
  version?: string;
  requestId?: string;
  parameters?: Record<string, unknown>;
  requestCompression?: 'gzip' | 'deflate';
  responseCompression?: 'gzip' | 'deflate';
}

/** InferenceServerClient.infer: the request exactly as the client sends it, and the raw answer. */
export async function tritonInfer(base: string, model: string, inputs: TritonInput[], outputs: TritonRequestedOutput[] | undefined, opts: TritonInferOptions): Promise<RawReply> {
  let { body, jsonSize } = tritonRequestBody(inputs, outputs, opts);
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key}` };
  if (opts.requestCompression === 'gzip') {
    headers['Content-Encoding'] = 'gzip';
    body = gzipSync(body);
  } else if (opts.requestCompression === 'deflate') {
    headers['Content-Encoding'] = 'deflate';
    body = deflateSync(body); // zlib.compress: the zlib format
  }
  if (opts.responseCompression) headers['Accept-Encoding'] = opts.responseCompression;
  if (jsonSize !== null) headers['Inference-Header-Content-Length'] = String(jsonSize);
  headers['Content-Length'] = String(body.length); // geventhttpclient sets it; there is no Content-Type
  const uri = opts.version ? `/v2/models/${encodeURIComponent(model)}/versions/${opts.version}/infer` : `/v2/models/${encodeURIComponent(model)}/infer`;
  return rawRequest(base, { method: 'POST', path: uri, headers, body });
}

/** What InferResult makes of an answer (after _raise_if_error: 200 only). */
export class TritonResult {
  readonly response: { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[] } & Record<string, unknown>;
  private readonly buffer: Buffer;
  private readonly offsets = new Map<string, number>();

  constructor(reply: RawReply) {
    if (reply.status !== 200) throw new Error(`InferenceServerException [${reply.status}]: ${tritonError(reply)}`);
    let body = reply.body;
    const enc = reply.headers['content-encoding'];
    if (enc === 'gzip') body = gunzipSync(body);
    else if (enc === 'deflate') body = inflateSync(body);
    const hl = reply.headers['inference-header-content-length'];
    const headerLength = hl === undefined ? body.length : Number(hl);
    this.response = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    this.buffer = body.subarray(headerLength);
    let index = 0;
    for (const o of this.response.outputs) {
      const size = o.parameters?.binary_data_size;
      if (size === undefined) continue;
      this.offsets.set(o.name, index);
      index += size;
    }
  }

  /** as_numpy, flattened: numbers for numeric tensors, strings for BYTES (deserialize_bytes_tensor). */
  asArray(name: string): { shape: number[]; datatype: string; values: unknown[] } | null {
    const o = this.response.outputs.find((x) => x.name === name);
    if (!o) return null;
    const size = o.parameters?.binary_data_size;
    if (size === undefined) return { shape: o.shape, datatype: o.datatype, values: o.data ?? [] };
    const start = this.offsets.get(name)!;
    const bytes = this.buffer.subarray(start, start + size);
    if (o.datatype === 'BYTES') {
      const values: string[] = [];
      for (let off = 0; off < bytes.length; ) {
        const len = bytes.readUInt32LE(off);
        values.push(bytes.subarray(off + 4, off + 4 + len).toString('utf8'));
        off += 4 + len;
      }
      return { shape: o.shape, datatype: o.datatype, values };
    }
    if (o.datatype === 'FP32') return { shape: o.shape, datatype: o.datatype, values: Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))) };
    throw new Error(`asArray: ${o.datatype} not needed by these tests`);
  }
}

/** _get_error: the {"error"} text of a failed answer. */
export function tritonError(reply: RawReply): string {
  const body = reply.body.toString('utf8');
  return body.length ? (JSON.parse(body) as { error: string }).error : 'client received an empty response from the server.';
}

/** get_model_config / get_model_metadata: GET, then json.loads of the body. */
export async function tritonGetJson(base: string, uri: string, key: string): Promise<{ status: number; json: unknown }> {
  const r = await rawRequest(base, { path: uri, headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, json: JSON.parse(r.body.toString('utf8')) };
}
