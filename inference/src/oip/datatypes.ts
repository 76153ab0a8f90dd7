/** Open Inference Protocol datatypes and their onnxruntime / typed-array counterparts. */

export const datatypes = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type Datatype = (typeof datatypes)[number];

/** onnxruntime-node tensor type names. */
export type OrtType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

export interface DatatypeInfo {
  ort: OrtType;
  /** Bytes per element in the binary extension (0 for BYTES: variable length). */
  size: number;
  kind: 'float' | 'int' | 'bigint' | 'bool' | 'half' | 'bytes';
  min?: number;
  max?: number;
}

export const datatypeInfo: Record<Datatype, DatatypeInfo> = {
  BOOL: { ort: 'bool', size: 1, kind: 'bool' },
  UINT8: { ort: 'uint8', size: 1, kind: 'int', min: 0, max: 255 },
  UINT16: { ort: 'uint16', size: 2, kind: 'int', min: 0, max: 65535 },
  UINT32: { ort: 'uint32', size: 4, kind: 'int', min: 0, max: 4294967295 },
  UINT64: { ort: 'uint64', size: 8, kind: 'bigint', min: 0, max: Number.MAX_SAFE_INTEGER },
  INT8: { ort: 'int8', size: 1, kind: 'int', min: -128, max: 127 },
  INT16: { ort: 'int16', size: 2, kind: 'int', min: -32768, max: 32767 },
  INT32: { ort: 'int32', size: 4, kind: 'int', min: -2147483648, max: 2147483647 },
  INT64: { ort: 'int64', size: 8, kind: 'bigint', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  FP16: { ort: 'float16', size: 2, kind: 'half' },
  FP32: { ort: 'float32', size: 4, kind: 'float' },
  FP64: { ort: 'float64', size: 8, kind: 'float' },
  BYTES: { ort: 'string', size: 0, kind: 'bytes' },
};

const ortToDatatype = new Map<string, Datatype>(Object.entries(datatypeInfo).map(([dt, info]) => [info.ort, dt as Datatype]));

export function isDatatype(v: unknown): v is Datatype {
  return typeof v === 'string' && (datatypes as readonly string[]).includes(v);
}

export function datatypeOfOrt(type: string): Datatype | undefined {
  return ortToDatatype.get(type);
}

/** A typed array view over little-endian bytes (copies when the offset is misaligned). */
export function typedView(dt: Datatype, bytes: Uint8Array): ArrayBufferView {
  const info = datatypeInfo[dt];
  if (info.size > 1 && bytes.byteOffset % info.size !== 0) bytes = bytes.slice();
  const { buffer, byteOffset, byteLength } = bytes;
  switch (dt) {
    case 'BOOL':
    case 'UINT8':
      return new Uint8Array(buffer, byteOffset, byteLength);
    case 'INT8':
      return new Int8Array(buffer, byteOffset, byteLength);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 'INT16':
      return new Int16Array(buffer, byteOffset, byteLength / 2);
    case 'UINT32':
      return new Uint32Array(buffer, byteOffset, byteLength / 4);
    case 'INT32':
      return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'UINT64':
      return new BigUint64Array(buffer, byteOffset, byteLength / 8);
    case 'INT64':
      return new BigInt64Array(buffer, byteOffset, byteLength / 8);
    case 'FP32':
      return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'FP64':
      return new Float64Array(buffer, byteOffset, byteLength / 8);
    case 'BYTES':
      throw new Error('BYTES has no fixed-size view');
  }
}

/** IEEE 754 binary16 <-> number, for FP16 tensors sent as JSON numbers. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    if ((mant >> (shift - 1)) & 1) half += 1;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >> 13);
  if (mant & 0x1000) half += 1; // round half up; carries into the exponent correctly
  return half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
