/**
 * The meter registry: the one list of what Tollgate meters, limits and prices. Every other
 * module derives its meter list, units and readers from here; a meter name is spelled in this
 * file alone (a test scans the source for strays). Order is significant: it is the order of
 * quota status rows, cost meters and error messages.
 */
import { ident, join, sql, type Sql } from '../clickhouse/index.js';

/** The device class a run's compute is charged to (a device string like `cuda:0` is CUDA). */
export type DeviceClass = 'cpu' | 'cuda';

/**
 * What a meter reads from a usage record (a usage_events_v1 row, an inference outcome):
 * - `okRequests`: 1 for an ok request;
 * - `okItems`: the items of an ok request;
 * - `compute`: billed compute in µs of every run on the meter's device, failed runs included (issue 17.3).
 */
export type MeterSource = 'okRequests' | 'okItems' | 'compute';

export interface MeterDefinition<N extends string = string> {
  readonly name: N;
  /** For people (reports, dashboards). */
  readonly displayName: string;
  /** The unit limits and prices are stated in. */
  readonly unit: 'request' | 'item' | 'ms';
  /** Counted units per limit/price unit: compute is counted in µs, exactly as metered, and limited in ms. */
  readonly scale: number;
  readonly source: MeterSource;
  /** For `compute`: the device class whose runs it counts; null otherwise. */
  readonly device: DeviceClass | null;
  /**
   * When a request's use of it is known: at `admission` (reserved before the run, settled after)
   * or at `release` (only once the run ends: a hard limit is checked at admission, charged after).
   */
  readonly chargedAt: 'admission' | 'release';
}

const define = <const N extends string>(d: MeterDefinition<N>): MeterDefinition<N> => Object.freeze(d);

export const meterDefinitions = Object.freeze([
  define({ name: 'requests', displayName: 'Requests', unit: 'request', scale: 1, source: 'okRequests', device: null, chargedAt: 'admission' }),
  define({ name: 'items', displayName: 'Items', unit: 'item', scale: 1, source: 'okItems', device: null, chargedAt: 'admission' }),
  define({ name: 'compute_ms_cpu', displayName: 'CPU compute (ms)', unit: 'ms', scale: 1000, source: 'compute', device: 'cpu', chargedAt: 'release' }),
  define({ name: 'compute_ms_cuda', displayName: 'CUDA compute (ms)', unit: 'ms', scale: 1000, source: 'compute', device: 'cuda', chargedAt: 'release' }),
] as const);

export type Meter = (typeof meterDefinitions)[number]['name'];

/** Meter names in registry order (a tuple, so it feeds `z.enum`). */
export const meters = meterDefinitions.map((d) => d.name) as unknown as readonly [Meter, ...Meter[]];

/** quota_overrides.meter: a quota meter, or an admission limit. */
export const admissionLimitKinds = ['rate', 'burst', 'concurrency'] as const;
export const overrideKinds = [...meters, ...admissionLimitKinds] as const;
export type OverrideKind = Meter | (typeof admissionLimitKinds)[number];

const byName = new Map<string, MeterDefinition<Meter>>(meterDefinitions.map((d) => [d.name, d]));

export function isMeter(name: string): name is Meter {
  return byName.has(name);
}

/** The definition of a meter; throws on a name that is not one (a programming error). */
export function meterDefinition(name: Meter): MeterDefinition<Meter> {
  const d = byName.get(name);
  if (!d) throw new TypeError(`unknown meter ${name}`);
  return d;
}

export function deviceClass(device: string | undefined): DeviceClass {
  return device !== undefined && device.startsWith('cuda') ? 'cuda' : 'cpu';
}

/** What one usage record (or one finished request) says. `computeUs` is billed compute. */
export interface UsageFacts {
  ok: boolean;
  items: number;
  computeUs: number;
  device: string | undefined;
}

/** Counted units (limit units x scale) one usage record adds to a meter. */
export function unitsOfRecord(meter: MeterDefinition, r: UsageFacts): number {
  switch (meter.source) {
    case 'okRequests':
      return r.ok ? 1 : 0;
    case 'okItems':
      return r.ok ? r.items : 0;
    case 'compute':
      return deviceClass(r.device) === meter.device ? r.computeUs : 0;
  }
}

/** A rollup row (usage_{minute,hourly,daily}_v1, usage_tags_hourly_v1) grouped by device. */
export interface RollupSums {
  okRequests: bigint;
  okItems: bigint;
  billedComputeUs: bigint;
  device: string;
}

/** The rollup column each source is summed from. */
export const rollupColumns: Readonly<Record<MeterSource, 'ok_requests' | 'ok_items' | 'billed_compute_us'>> = Object.freeze({
  okRequests: 'ok_requests',
  okItems: 'ok_items',
  compute: 'billed_compute_us',
});

/** Counted units a rollup row adds to a meter. */
export function unitsOfRollup(meter: MeterDefinition, r: RollupSums): bigint {
  switch (meter.source) {
    case 'okRequests':
      return r.okRequests;
    case 'okItems':
      return r.okItems;
    case 'compute':
      return deviceClass(r.device.toLowerCase()) === meter.device ? r.billedComputeUs : 0n;
  }
}

/**
 * ClickHouse aggregates of every meter, one column per meter named after it, over a subquery
 * with one row per event id and the columns `ok` (UInt8), `items`, `c` (billed compute µs) and
 * `d` (device).
 */
export function meterSumsOverEvents(): Sql {
  return eventSums;
}

function eventAggregate(d: MeterDefinition<Meter>): Sql {
  switch (d.source) {
    case 'okRequests':
      return sql`countIf(ok)`;
    case 'okItems':
      return sql`sumIf(items, ok)`;
    case 'compute':
      return d.device === 'cuda' ? sql`sumIf(c, d LIKE 'cuda%')` : sql`sumIf(c, d NOT LIKE 'cuda%')`;
  }
}

const eventSums: Sql = join(meterDefinitions.map((d) => sql`${eventAggregate(d)} AS ${ident(d.name, meters)}`));
