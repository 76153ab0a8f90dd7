/**
 * A session worker: owns onnxruntime sessions and runs them off the main event loop
 * (session.run is synchronous native work). Runs under plain node as dist/.../worker.js.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { jsonTextOf } from '../oip/json-text.js';
import type { OrtType } from '../oip/datatypes.js';
import type { JsonSpec, TensorInfo, WireTensor, WorkerRequest, WorkerResponse, WorkerSettings } from './protocol.js';
import { JSON_OUTPUT_MAX_ELEMENTS } from './protocol.js';
import { SessionStore } from './sessions.js';

const port = parentPort;
if (!port) throw new Error('worker.js must run inside a worker thread');

// ORT's own logger would print the failed CUDA probe and unused-initializer warnings to stderr;
// failures reach us as exceptions anyway.
ort.env.logLevel = 'fatal';

/**
 * Lower this thread's priority (Linux: nice is per thread; /proc/thread-self names our task id)
 * so the HTTP thread is scheduled first when cores are scarce. ORT threads inherit it.
 */
function renice(nice: number): void {
  if (!nice) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not Linux, or not permitted: run at normal priority
  }
}
const settings = (workerData ?? {}) as Partial<WorkerSettings>;
renice(Number(settings.nice ?? 0));

// Runs one message (or session reload) at a time: the pool pipelines batches, and session.run
// must neither overlap nor have its compute time include the wait for the previous batch.
let chain: Promise<unknown> = Promise.resolve();
const enqueue = (work: () => Promise<void>) => {
  chain = chain.then(work).catch(() => undefined);
};
const sessions = new SessionStore({ recycleBytes: Number(settings.arenaRecycleBytes ?? 0), enqueue });

function sessionOptions(msg: Extract<WorkerRequest, { op: 'load' }>): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [msg.device],
    intraOpNumThreads: msg.intraOpThreads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // The CPU arena stays on (see sessions.ts: its growth is bounded by recycling instead).
    enableCpuMemArena: true,
    enableMemPattern: true,
    // 3 = error: keeps ORT's "removing unused initializer" warnings out of the logs; 4 for probes.
    logSeverityLevel: msg.quiet ? 4 : 3,
  };
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) => ({
    name: m.name,
    type: m.isTensor ? String(m.type) : 'non-tensor',
    shape: m.isTensor ? m.shape.map((d) => (typeof d === 'number' ? d : -1)) : [],
  }));
}

function toOrt(t: WireTensor): ort.Tensor {
  if (Array.isArray(t.data)) return new ort.Tensor('string', t.data, t.dims);
  const b = t.data;
  const view = (() => {
    switch (t.type) {
      case 'bool':
      case 'uint8':
        return new Uint8Array(b);
      case 'int8':
        return new Int8Array(b);
      case 'uint16':
      case 'float16':
        return new Uint16Array(b);
      case 'int16':
        return new Int16Array(b);
      case 'uint32':
        return new Uint32Array(b);
      case 'int32':
        return new Int32Array(b);
      case 'uint64':
        return new BigUint64Array(b);
      case 'int64':
        return new BigInt64Array(b);
      case 'float32':
        return new Float32Array(b);
      case 'float64':
        return new Float64Array(b);
      default:
        throw new Error(`unsupported tensor type ${t.type}`);
    }
  })();
  // onnxruntime-node accepts these typed arrays for their types (float16 as Uint16Array).
  return new ort.Tensor(t.type as 'float32', view as Float32Array, t.dims);
}

function fromOrt(t: ort.Tensor, transfer: ArrayBuffer[]): WireTensor {
  const dims = [...t.dims];
  if (t.type === 'string') return { type: 'string', dims, data: [...(t.data as string[])] };
  const v = t.data as ArrayBufferView;
  let buf: ArrayBuffer;
  if (v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer) buf = v.buffer;
  else buf = new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice().buffer;
  transfer.push(buf);
  return { type: t.type as WireTensor['type'], dims, data: buf };
}

/** JSON text of the requested row ranges, formatted here rather than on the HTTP thread. */
function formatJson(result: Record<string, ort.Tensor>, specs: JsonSpec[]): Record<string, (string | null)[]> {
  const out: Record<string, (string | null)[]> = {};
  for (const spec of specs) {
    const t = result[spec.name];
    if (!t) continue;
    const data = t.data as unknown as ArrayLike<unknown>;
    const rows = t.dims.length > 0 ? Number(t.dims[0]) : 1;
    const per = rows > 0 ? data.length / rows : 0;
    // A row range too large for JSON is left out (null): only that request fails, billed for its share.
    out[spec.name] = spec.rows.map(([first, count]) =>
      (count < 0 ? data.length : count * per) > JSON_OUTPUT_MAX_ELEMENTS
        ? null
        : count < 0
          ? jsonTextOf(t.type as OrtType, data, 0, data.length)
          : jsonTextOf(t.type as OrtType, data, first * per, (first + count) * per),
    );
  }
  return out;
}

/** A response, the buffers it transfers, and work to do once it is sent. */
type Handled = [WorkerResponse, ArrayBuffer[], (() => Promise<void>)?];

async function handle(msg: WorkerRequest): Promise<Handled> {
  switch (msg.op) {
    case 'load': {
      try {
        const session = await sessions.load(msg.key, msg.file, sessionOptions(msg));
        return [{ id: msg.id, ok: true, op: 'load', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) }, []];
      } catch (err) {
        return [{ id: msg.id, ok: false, kind: 'load', error: (err as Error).message }, []];
      }
    }
    case 'unload':
      await sessions.unload(msg.key);
      return [{ id: msg.id, ok: true, op: 'unload' }, []];
    case 'idle':
      sessions.quiesce();
      return [{ id: msg.id, ok: true, op: 'idle' }, []];
    case 'run': {
      const held = sessions.get(msg.key);
      if (!held) return [{ id: msg.id, ok: false, kind: 'internal', error: `model ${msg.key} is not loaded in this worker` }, []];
      let feeds: Record<string, ort.Tensor>;
      try {
        feeds = Object.fromEntries(Object.entries(msg.feeds).map(([k, t]) => [k, toOrt(t)]));
      } catch (err) {
        return [{ id: msg.id, ok: false, kind: 'internal', error: (err as Error).message }, []];
      }
      // Process-wide RSS: another worker's run can add to it, costing at worst one needless reload.
      const rssBefore = process.memoryUsage.rss();
      const t0 = process.hrtime.bigint();
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await held.session.run(feeds, msg.outputs);
      } catch (err) {
        // The failed run still used the session for this long: billed to whoever caused it.
        const computeUs = Number((process.hrtime.bigint() - t0) / 1000n);
        const { arenaRecycle, after } = sessions.afterRun(msg.key, held, process.memoryUsage.rss() - rssBefore);
        return [{ id: msg.id, ok: false, kind: 'run', error: (err as Error).message, arenaRecycle, computeUs }, [], after];
      }
      const computeUs = Number((process.hrtime.bigint() - t0) / 1000n);
      const { arenaRecycle, after } = sessions.afterRun(msg.key, held, process.memoryUsage.rss() - rssBefore);
      try {
        const json = msg.json ? formatJson(result, msg.json) : undefined;
        const transfer: ArrayBuffer[] = [];
        const outputs: Record<string, WireTensor> = {};
        for (const name of msg.outputs) {
          const t = result[name];
          if (t) outputs[name] = fromOrt(t, transfer);
        }
        return [{ id: msg.id, ok: true, op: 'run', outputs, computeUs, json, arenaRecycle }, transfer, after];
      } catch (err) {
        // The run succeeded; only formatting its outputs failed: not a run error, and its compute is billed.
        return [{ id: msg.id, ok: false, kind: 'output', error: (err as Error).message, arenaRecycle, computeUs }, [], after];
      }
    }
  }
}

port.on('message', (msg: WorkerRequest) => {
  enqueue(() =>
    handle(msg).then(
      // Answer first; a session reload (arena recycling) then runs before the next message.
      async ([res, transfer, after]) => {
        port.postMessage(res, transfer);
        await after?.();
      },
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, kind: 'internal', error: String((err as Error)?.message ?? err) } satisfies WorkerResponse),
    ),
  );
});
