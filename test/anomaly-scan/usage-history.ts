/** Usage import lines for detector tests: steady hourly traffic with a known error pattern, or a burst. */
export const HOUR = 3_600_000;

/**
 * One usage line per request for each hour in [fromMs, toMs): 38–42 requests an hour, one
 * failed request in every third hour (~0.8 %), or `errors` failed requests in burst hours.
 */
export function hourlyUsage(fromMs: number, toMs: number, opts: { errors?: number; model?: string; prefix: string }): string[] {
  const lines: string[] = [];
  for (let t = fromMs; t < toMs; t += HOUR) {
    const h = Math.round(t / HOUR);
    const n = 38 + (h % 5);
    const errors = opts.errors ?? (h % 3 === 0 ? 1 : 0);
    for (let i = 0; i < n; i++) {
      const status = i < errors ? 'error' : 'ok';
      lines.push(JSON.stringify({ id: `${opts.prefix}-${h}-${i}`, ts: new Date(t + i * 60_000).toISOString(), model: opts.model ?? 'mlp-demo', items: 1 + (i % 3), computeMs: 5 + (i % 10), status }));
    }
  }
  return lines;
}

