/**
 * HTTP content codings of the inference role.
 * - Requests: `Content-Encoding: gzip | deflate` bodies are inflated as they arrive, and the
 *   body limit counts *decoded* bytes: a small zip bomb is stopped (413) as soon as its output
 *   passes the limit, without inflating the rest. A body that does not decode is a 400; any other
 *   coding a 415 naming the ones we accept. Triton's binary extension header
 *   (`Inference-Header-Content-Length`) then applies to the decoded body, as Triton's clients
 *   compute it.
 * - Responses: `Accept-Encoding` is honoured (gzip or deflate, by q-value) for bodies of at least
 *   COMPRESS_MIN_BYTES; smaller ones are not worth it. Compression runs on libuv's threadpool.
 */
import { PassThrough, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { AppError, badInput } from '../../../src/shared/index.js';

export const ACCEPTED_ENCODINGS = 'gzip, deflate';

/** Responses smaller than this are sent as they are. */
export const COMPRESS_MIN_BYTES = 1024;

type Coding = 'gzip' | 'deflate';

/** The content coding of a request body, or null for none/identity; AppError 415 for anything else. */
export function requestCoding(header: string | undefined): Coding | null {
  if (header === undefined) return null;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return null;
  if (codings.length > 1) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${header.slice(0, 64)}": only one content coding is supported (${ACCEPTED_ENCODINGS})`);
  const c = codings[0]!;
  if (c === 'gzip' || c === 'x-gzip') return 'gzip';
  if (c === 'deflate') return 'deflate';
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${c.slice(0, 64)}" is not supported (${ACCEPTED_ENCODINGS})`);
}

/** fastify reads `receivedEncodedLength` to compare the raw bytes with Content-Length. */
export type DecodedBody = PassThrough & { receivedEncodedLength: number };

/**
 * Inflates `raw` into a new stream that fails with 413 once more than `limit` decoded bytes came
 * out (the inflater is destroyed then, so the rest of a bomb is never inflated) and with 400 when
 * the bytes are not valid data of that coding. `raw` itself is left alone: node discards what
 * the client still sends once the answer is out, and the 413/400 can still be written.
 */
export function decodeBody(raw: Readable, coding: Coding, limit: number): DecodedBody {
  const out = new PassThrough() as DecodedBody;
  out.receivedEncodedLength = 0;
  // RFC 9110 "deflate" is the zlib format (what Python's zlib.compress and tritonclient send).
  const inflater = coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
  let decoded = 0;
  let failed = false;
  const count = (chunk: Buffer) => {
    out.receivedEncodedLength += chunk.length;
  };
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    // Stop reading and inflating; what the client still sends is discarded by node, not inflated.
    raw.removeListener('data', count);
    raw.unpipe(inflater);
    inflater.destroy();
    out.destroy(err);
  };
  raw.on('data', count);
  raw.on('error', fail);
  inflater.on('data', (chunk: Buffer) => {
    if (failed) return;
    decoded += chunk.length;
    if (decoded > limit) return fail(new AppError('PAYLOAD_TOO_LARGE', `the decoded request body exceeds the size limit (${limit} bytes)`));
    if (!out.write(chunk)) inflater.pause();
  });
  out.on('drain', () => inflater.resume());
  inflater.on('end', () => {
    if (!failed) out.end();
  });
  inflater.on('error', (err) => fail(badInput(`the request body is not valid ${coding} data (Content-Encoding: ${coding}): ${err.message.slice(0, 120)}`)));
  raw.pipe(inflater);
  return out;
}

/** An uncompressed body of unknown length (chunked), stopped with 413 as soon as it passes `limit`. */
export function limitBody(raw: Readable, limit: number): PassThrough {
  const out = new PassThrough();
  let seen = 0;
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) {
      raw.removeListener('data', onData);
      raw.unpipe(out);
      out.destroy(new AppError('PAYLOAD_TOO_LARGE', `the request body exceeds the size limit (${limit} bytes for JSON; larger tensors go in the binary extension)`));
    }
  };
  raw.on('data', onData);
  raw.on('error', (err) => out.destroy(err));
  raw.pipe(out);
  return out;
}

/** The coding to answer with for an Accept-Encoding header, or null (identity). */
export function responseCoding(header: string | string[] | undefined): Coding | null {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return null;
  const q: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) weight = Math.min(1, Number(m[1]) || 0);
    }
    q[token.trim()] = weight;
  }
  const weight = (c: Coding) => q[c] ?? (c === 'gzip' ? q['x-gzip'] : undefined) ?? q['*'] ?? 0;
  const gzip = weight('gzip');
  const deflate = weight('deflate');
  if (gzip <= 0 && deflate <= 0) return null;
  return gzip >= deflate ? 'gzip' : 'deflate';
}

// Level 1: responses are mostly tensors, where higher levels gain little and cost CPU that the
// threadpool shares with the usage WAL's fsyncs.
const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);

export function compress(body: Buffer, coding: Coding): Promise<Buffer> {
  return coding === 'gzip' ? gzip(body, { level: 1 }) : deflate(body, { level: 1 });
}

/**
 * onSend step: compresses a body of at least COMPRESS_MIN_BYTES when the client accepts gzip or
 * deflate. Every answer with a body says `Vary: Accept-Encoding`, since the same request may be
 * answered either way. Inference-Header-Content-Length keeps naming the decoded JSON part.
 */
export async function encodeReply(
  acceptEncoding: string | string[] | undefined,
  reply: { statusCode: number; getHeader(name: string): unknown; header(name: string, value: string): unknown },
  payload: unknown,
): Promise<unknown> {
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
  const vary = String(reply.getHeader('vary') ?? '');
  if (!/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) reply.header('vary', vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding');
  if (reply.getHeader('content-encoding') !== undefined || reply.statusCode === 204 || reply.statusCode === 304) return payload;
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (body.length < COMPRESS_MIN_BYTES) return payload;
  const coding = responseCoding(acceptEncoding);
  if (!coding) return payload;
  reply.header('content-encoding', coding);
  return compress(body, coding);
}
