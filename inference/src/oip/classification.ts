/**
 * Triton's classification extension: an output requested with `parameters.classification = k`
 * is answered as BYTES strings "score:index" (":label" appended when the output has a labels
 * file), the k highest scores of each batch item, best first (ties: lower index first; NaN
 * last). Shape [batch, k], or [k] for a model that does not batch (the whole tensor is one item),
 * exactly as Triton shapes it. Scores print like Triton's std::to_string: floats with 6 decimals,
 * integers as integers.
 *
 * Selection keeps a k-sized heap per item and yields to the event loop every YIELD_EVERY steps,
 * so a large output (OCR: 265k scores per item) never stalls other requests for long.
 */
import { badInput } from '../../../src/shared/index.js';
import { datatypeInfo, fromHalf, typedView, type Datatype } from './datatypes.js';
import type { OutputTensor } from './encode.js';

const YIELD_EVERY = 32_768;

interface Scores {
  length: number;
  score(i: number): number;
  text(i: number): string;
}

/** Scores of a numeric tensor, and how Triton prints each one. */
function scoresOf(t: OutputTensor): Scores {
  const info = datatypeInfo[t.datatype];
  if (Array.isArray(t.data) || info.kind === 'bool' || info.kind === 'bytes') throw badInput(`output "${t.name}": classification needs a numeric output, this one is ${t.datatype}`);
  const view = typedView(t.datatype, t.data) as unknown as ArrayLike<number | bigint> & { length: number };
  switch (info.kind) {
    case 'half':
      return { length: view.length, score: (i) => fromHalf(view[i] as number), text: (i) => fixed6(fromHalf(view[i] as number)) };
    case 'float':
      return { length: view.length, score: (i) => view[i] as number, text: (i) => fixed6(view[i] as number) };
    case 'bigint':
      return { length: view.length, score: (i) => Number(view[i]), text: (i) => String(view[i]) };
    default:
      return { length: view.length, score: (i) => view[i] as number, text: (i) => String(view[i]) };
  }
}

/** printf("%f"): six decimals; nan/inf spelled as C prints them; no exponent for huge values. */
export function fixed6(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Object.is(v, -0)) return '-0.000000';
  if (Math.abs(v) >= 1e21) return `${BigInt(v).toString()}.000000`;
  return v.toFixed(6);
}

/** a ranks above b: higher score, NaN below every number, then lower index. */
function better(sa: number, ia: number, sb: number, ib: number): boolean {
  const na = Number.isNaN(sa);
  const nb = Number.isNaN(sb);
  if (na !== nb) return nb;
  if (!na && sa !== sb) return sa > sb;
  return ia < ib;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Indices of the k best scores in [from, from + count), best first. */
async function topK(s: Scores, from: number, count: number, k: number, budget: { left: number }): Promise<number[]> {
  // A min-heap (worst kept element at the root) of item-relative indices.
  const heap: number[] = [];
  const sc = (j: number) => s.score(from + j);
  const worseThan = (a: number, b: number) => better(sc(b), b, sc(a), a);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worseThan(heap[l]!, heap[w]!)) w = l;
      if (r < heap.length && worseThan(heap[r]!, heap[w]!)) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w]!, heap[i]!];
      i = w;
    }
  };
  const siftUp = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worseThan(heap[i]!, heap[p]!)) return;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  for (let j = 0; j < count; j++) {
    if (--budget.left <= 0) {
      budget.left = YIELD_EVERY;
      await tick();
    }
    if (heap.length < k) {
      heap.push(j);
      siftUp(heap.length - 1);
    } else if (better(sc(j), j, sc(heap[0]!), heap[0]!)) {
      heap[0] = j;
      siftDown(0);
    }
  }
  // Popping the worst first fills the answer from its end.
  const out = new Array<number>(heap.length);
  for (let n = heap.length - 1; n >= 0; n--) {
    if (--budget.left <= 0) {
      budget.left = YIELD_EVERY;
      await tick();
    }
    out[n] = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      siftDown(0);
    }
  }
  return out;
}

export async function classify(t: OutputTensor, opts: { k: number; batched: boolean; labels?: readonly string[] }): Promise<OutputTensor> {
  const s = scoresOf(t);
  const rows = opts.batched ? (t.shape[0] ?? 0) : 1;
  const per = rows > 0 ? s.length / rows : 0;
  if (rows > 0 && opts.k > per) throw badInput(`output "${t.name}": classification ${opts.k} exceeds its ${per} classes`);
  const data: string[] = [];
  const budget = { left: YIELD_EVERY };
  for (let row = 0; row < rows; row++) {
    const from = row * per;
    for (const j of await topK(s, from, per, opts.k, budget)) {
      const label = opts.labels?.[j];
      data.push(`${s.text(from + j)}:${j}${label === undefined ? '' : `:${label}`}`);
    }
  }
  return { name: t.name, datatype: 'BYTES' satisfies Datatype, shape: opts.batched ? [rows, opts.k] : [opts.k], data };
}
