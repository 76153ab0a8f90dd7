/**
 * JSON text of a slice of a typed tensor. Shared by the session worker (which formats large
 * JSON outputs off the HTTP thread: number formatting of a 265k-float OCR output takes ~100 ms)
 * and the encoder (fallback for small or string tensors).
 */
import { fromHalf } from './datatypes.js';
import type { OrtType } from './datatypes.js';

export function jsonTextOf(type: OrtType, view: ArrayLike<unknown>, from: number, to: number): string {
  const v = view as never;
  switch (type) {
    case 'bool':
      return JSON.stringify(Array.from((v as Uint8Array).subarray(from, to), (x) => x !== 0));
    case 'float16':
      return JSON.stringify(Array.from((v as Uint16Array).subarray(from, to), fromHalf));
    case 'int64':
    case 'uint64':
      return JSON.stringify(Array.from((v as BigInt64Array).subarray(from, to), (x) => Number(x)));
    case 'string':
      return JSON.stringify((v as unknown as string[]).slice(from, to));
    default:
      return JSON.stringify(Array.from((v as Float32Array).subarray(from, to)));
  }
}
