/** Messages between the pool (main thread) and a session worker. Tensors travel as transferable buffers. */
import type { OrtType } from '../oip/datatypes.js';

export type ExecDevice = 'cpu' | 'cuda';

export interface WireTensor {
  type: OrtType;
  dims: number[];
  /** Exactly the tensor's bytes (little-endian), or the strings of a BYTES tensor. */
  data: ArrayBuffer | string[];
}

export interface TensorInfo {
  name: string;
  type: string;
  shape: (number | string)[];
}

export type WorkerRequest =
  | { op: 'load'; id: number; key: string; file: string; device: ExecDevice; intraOpThreads: number; quiet?: boolean }
  | { op: 'unload'; id: number; key: string }
  /** Stop reloading sessions; answered once every earlier message, and any reload it caused, is done. */
  | { op: 'idle'; id: number }
  | { op: 'run'; id: number; key: string; feeds: Record<string, WireTensor>; outputs: string[]; json?: JsonSpec[] };

/** Outputs some requests of the batch want as JSON: the worker formats those row ranges. */
export interface JsonSpec {
  name: string;
  /** [firstRow, rowCount] per request; [0, -1] = the whole tensor (unbatched models). */
  rows: [number, number][];
}

/**
 * Set on a run (ok or failed) that grew the process RSS past the recycle bound: the worker
 * reloads that session right after answering, which returns onnxruntime's CPU arena to the OS.
 */
export interface ArenaRecycle {
  rssGrowthBytes: number;
  /** Set when a recent reload of this session defers this one by that long (ARENA_RECYCLE_COOLDOWN_MS). */
  deferredMs?: number;
}

export type WorkerResponse =
  | { id: number; ok: true; op: 'load'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { id: number; ok: true; op: 'unload' }
  | { id: number; ok: true; op: 'idle' }
  /** json: per output, the JSON text of each requested row range; null where it is over JSON_OUTPUT_MAX_ELEMENTS. */
  | { id: number; ok: true; op: 'run'; outputs: Record<string, WireTensor>; computeUs: number; json?: Record<string, (string | null)[]>; arenaRecycle?: ArenaRecycle }
  /**
   * `run`: the session failed; `output`: the session ran but its outputs could not be formatted
   * (not the run's fault, issue 17.3). Both carry the compute the attempt took (µs): it is billed.
   */
  | { id: number; ok: false; error: string; kind: 'load' | 'run' | 'output' | 'internal'; arenaRecycle?: ArenaRecycle; computeUs?: number };

/**
 * Elements a requested JSON output may hold (issue 17.3): above it the client must ask for the
 * binary extension. Checked before the run when the shape is known from the config, else in the
 * worker before formatting (the run's compute is then billed). ~12 bytes of text per number: ~48 MB.
 */
export const JSON_OUTPUT_MAX_ELEMENTS = 4_000_000;

/** What a session worker is started with (workerData). */
export interface WorkerSettings {
  /** Linux nice value of the worker thread. */
  nice: number;
  /** RSS growth during one run above which the session is reloaded afterwards; 0 = never. */
  arenaRecycleBytes: number;
}
