/**
 * Alert hysteresis: an alert opens after `openAfter` anomalous buckets in a row and resolves
 * after `resolveAfter` normal buckets in a row. Buckets that were not judged (volume gate, no
 * baseline yet) carry no information and leave the state as it was.
 */
export interface HysteresisParams {
  readonly openAfter: number;
  readonly resolveAfter: number;
}

export interface AlertState {
  readonly open: boolean;
  /** Consecutive anomalous buckets (while closed) or normal buckets (while open). */
  readonly run: number;
}

export type Transition = 'opened' | 'resolved' | null;

export const closedState: AlertState = { open: false, run: 0 };

/** One bucket's effect: `judged` false for buckets the detector could not judge. */
export function stepAlert(state: AlertState, bucket: { anomalous: boolean; judged: boolean }, params: HysteresisParams): { state: AlertState; transition: Transition } {
  if (!bucket.judged) return { state, transition: null };
  if (!state.open) {
    const run = bucket.anomalous ? state.run + 1 : 0;
    return run >= params.openAfter ? { state: { open: true, run: 0 }, transition: 'opened' } : { state: { open: false, run }, transition: null };
  }
  const run = bucket.anomalous ? 0 : state.run + 1;
  return run >= params.resolveAfter ? { state: closedState, transition: 'resolved' } : { state: { open: true, run }, transition: null };
}

/** Runs the state machine over a sequence; returns each bucket's transition and the final state. */
export function runAlerts(buckets: readonly { anomalous: boolean; judged: boolean }[], params: HysteresisParams, from: AlertState = closedState): { transitions: Transition[]; state: AlertState } {
  let state = from;
  const transitions = buckets.map((b) => {
    const r = stepAlert(state, b, params);
    state = r.state;
    return r.transition;
  });
  return { transitions, state };
}

/**
 * Hysteresis from durations, for a series with the given bucket width: open after `openAfter`
 * anomalous buckets, resolve after `resolveAfterMs` of normal buckets (at least one).
 */
export function hysteresisFor(bucketMs: number, opts: { openAfter?: number; resolveAfterMs?: number } = {}): HysteresisParams {
  const { openAfter = defaultOpenAfter, resolveAfterMs = defaultResolveAfterMs } = opts;
  if (!(bucketMs > 0) || !Number.isInteger(openAfter) || openAfter < 1 || !(resolveAfterMs > 0)) throw new RangeError('hysteresis needs bucketMs > 0, an integer openAfter ≥ 1 and resolveAfterMs > 0');
  return { openAfter, resolveAfter: Math.max(1, Math.round(resolveAfterMs / bucketMs)) };
}

/** The defaults the NAB eval measured: open at the first anomalous bucket, resolve after 12 quiet hours. */
export const defaultOpenAfter = 1;
export const defaultResolveAfterMs = 12 * 3_600_000;
