/**
 * ExportTraceServiceRequest (decoded from OTLP/JSON or OTLP/protobuf) -> otel_traces_v1 rows.
 *
 * Both encodings arrive in the same lowerCamelCase shape (protobufjs converts field names;
 * OTLP/JSON snake_case keys are accepted too); they differ only in how ids (hex string vs
 * bytes), 64-bit integers (string/number vs Long) and bytes values (base64 vs bytes) look.
 * A span that cannot be stored faithfully is rejected (counted for partial success), never
 * guessed at. The tenant is decided by the caller's principal (see receiver.ts).
 */
import { toWellFormed } from '../../src/shared/index.js';
import { SPAN_MAX_AGE_MS, SPAN_MAX_FUTURE_MS, type OtelSpanRow } from '../../src/telemetry/index.js';

/** Who sent the spans: Tollgate itself (spans keep their `tenant.id`) or one tenant (all spans are that tenant's). */
export type OtlpPrincipal = { kind: 'internal' } | { kind: 'tenant'; tenantId: string; keyId: string };

export interface ConvertLimits {
  maxAttributes: number;
  /** Clock for the start-time window (tests); default Date.now(). */
  nowMs?: number;
}

export interface ConvertResult {
  rows: OtelSpanRow[];
  rejected: number;
  errors: string[];
}

/** The request's shape is wrong as a whole (answered 400). */
export class OtlpShapeError extends Error {}

type Obj = Record<string, unknown>;
const KINDS = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS = ['Unset', 'Ok', 'Error'];
const KIND_NAMES: Record<string, number> = { SPAN_KIND_UNSPECIFIED: 0, SPAN_KIND_INTERNAL: 1, SPAN_KIND_SERVER: 2, SPAN_KIND_CLIENT: 3, SPAN_KIND_PRODUCER: 4, SPAN_KIND_CONSUMER: 5 };
const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_RE = /^[0-9a-f]*$/i;
const MAX_U64 = 18446744073709551615n;

class SpanReject extends Error {}

/** Own properties only: protobufjs keeps unset fields' defaults on the prototype (which would hide a oneof's real member). */
function field(o: Obj, camel: string, snake: string): unknown {
  if (Object.hasOwn(o, camel)) return o[camel];
  return Object.hasOwn(o, snake) ? o[snake] : undefined;
}

function list(v: unknown, what: string): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpShapeError(`${what} must be an array`);
  for (const x of v) if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new OtlpShapeError(`${what} must hold objects`);
  return v as Obj[];
}

function obj(v: unknown): Obj | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : null;
}

/** Strings from the wire; lone surrogates become U+FFFD (ClickHouse refuses the whole insert otherwise). */
function str(v: unknown): string {
  return typeof v === 'string' ? toWellFormed(v) : '';
}

/** Ids: bytes (protobuf) or hex (OTLP/JSON) -> lower-case hex of exactly `bytes` bytes, '' when absent and allowed. */
function id(v: unknown, bytes: number, what: string, optional: boolean): string {
  let hex = '';
  if (v instanceof Uint8Array) hex = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  else if (typeof v === 'string') hex = v.toLowerCase();
  else if (v !== undefined && v !== null) throw new SpanReject(`${what} has the wrong type`);
  if (hex === '' && optional) return '';
  if (hex.length !== bytes * 2 || !HEX_RE.test(hex) || /^0+$/.test(hex)) throw new SpanReject(`${what} must be ${bytes} bytes, not all zero`);
  return hex;
}

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}
/** protobufjs decodes 64-bit fields as Long; its toString() is slow (division loop), the two halves are not. */
function longToBigInt(v: LongLike): bigint {
  const u = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return !v.unsigned && v.high < 0 ? u - (1n << 64n) : u;
}

/** fixed64/int64 from Long, number or decimal string -> bigint. */
function u64(v: unknown, what: string): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  let n: bigint;
  try {
    if (typeof v === 'bigint') n = v;
    else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^\d+$/.test(v)) n = BigInt(v);
    else if (isLong(v)) n = longToBigInt(v);
    else throw new Error();
  } catch {
    throw new SpanReject(`${what} is not an unsigned 64-bit integer`);
  }
  if (n < 0n || n > MAX_U64) throw new SpanReject(`${what} is out of range`);
  return n;
}

function anyValue(v: unknown, depth = 0): string {
  const o = obj(v);
  if (!o || depth > 8) return '';
  const s = field(o, 'stringValue', 'string_value');
  if (s !== undefined && s !== null) return toWellFormed(String(s));
  const b = field(o, 'boolValue', 'bool_value');
  if (b !== undefined && b !== null) return b ? 'true' : 'false';
  const i = field(o, 'intValue', 'int_value');
  if (i !== undefined && i !== null) return isLong(i) ? longToBigInt(i).toString() : String(i);
  const d = field(o, 'doubleValue', 'double_value');
  if (d !== undefined && d !== null) return String(d);
  const bytes = field(o, 'bytesValue', 'bytes_value');
  if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('base64');
  if (typeof bytes === 'string') return str(bytes); // OTLP/JSON already carries base64
  const arr = obj(field(o, 'arrayValue', 'array_value'));
  if (arr) return JSON.stringify(list(arr.values, 'arrayValue.values').map((x) => anyValue(x, depth + 1)));
  const kv = obj(field(o, 'kvlistValue', 'kvlist_value'));
  if (kv) {
    const out: Record<string, string> = {};
    for (const e of list(kv.values, 'kvlistValue.values')) out[str(e.key)] = anyValue(e.value, depth + 1);
    return JSON.stringify(out);
  }
  return '';
}

function attributes(v: unknown, limits: ConvertLimits, what: string): { keys: string[]; values: string[]; map: Map<string, string> } {
  const kvs = list(v, `${what} attributes`);
  if (kvs.length > limits.maxAttributes) throw new SpanReject(`${what} has ${kvs.length} attributes (limit ${limits.maxAttributes})`);
  const keys: string[] = [];
  const values: string[] = [];
  const map = new Map<string, string>();
  for (const kv of kvs) {
    const key = str(kv.key);
    const value = anyValue(kv.value);
    keys.push(key);
    values.push(value);
    map.set(key, value);
  }
  return { keys, values, map };
}

function enumValue(v: unknown, names: Record<string, number>, max: number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v;
  if (typeof v === 'string' && v in names) return names[v]!;
  return 0;
}

function tenantFor(principal: OtlpPrincipal, spanAttrs: Map<string, string>, resourceAttrs: Map<string, string>): string {
  if (principal.kind === 'tenant') return principal.tenantId; // whatever the attributes claim
  const claimed = spanAttrs.get('tenant.id') ?? resourceAttrs.get('tenant.id') ?? '';
  return UUID_RE.test(claimed) ? claimed.toLowerCase() : '';
}

/** Converts a decoded request into rows; throws OtlpShapeError when the envelope itself is malformed. */
export function spansToRows(request: unknown, principal: OtlpPrincipal, limits: ConvertLimits): ConvertResult {
  const root = obj(request);
  if (!root) throw new OtlpShapeError('request body must be an ExportTraceServiceRequest object');
  const rows: OtelSpanRow[] = [];
  const errors = new Set<string>();
  let rejected = 0;
  for (const rs of list(field(root, 'resourceSpans', 'resource_spans'), 'resourceSpans')) {
    const resource = obj(rs.resource) ?? {};
    const scopeSpans = list(field(rs, 'scopeSpans', 'scope_spans'), 'scopeSpans');
    let res: ReturnType<typeof attributes>;
    try {
      res = attributes(resource.attributes, limits, 'resource');
    } catch (err) {
      for (const ss of scopeSpans) rejected += list(ss.spans, 'spans').length;
      errors.add((err as Error).message);
      continue;
    }
    const serviceName = res.map.get('service.name') ?? '';
    for (const ss of scopeSpans) {
      const scope = obj(ss.scope) ?? {};
      for (const span of list(ss.spans, 'spans')) {
        try {
          rows.push(spanRow(span, principal, limits, res, serviceName, str(scope.name), str(scope.version)));
        } catch (err) {
          if (!(err instanceof SpanReject)) throw err;
          rejected++;
          errors.add(err.message);
        }
      }
    }
  }
  return { rows, rejected, errors: [...errors] };
}

function spanRow(
  span: Obj,
  principal: OtlpPrincipal,
  limits: ConvertLimits,
  res: ReturnType<typeof attributes>,
  serviceName: string,
  scopeName: string,
  scopeVersion: string,
): OtelSpanRow {
  const traceId = id(field(span, 'traceId', 'trace_id'), 16, 'traceId', false);
  const spanId = id(field(span, 'spanId', 'span_id'), 8, 'spanId', false);
  const parentSpanId = id(field(span, 'parentSpanId', 'parent_span_id'), 8, 'parentSpanId', true);
  const start = u64(field(span, 'startTimeUnixNano', 'start_time_unix_nano'), 'startTimeUnixNano');
  const end = u64(field(span, 'endTimeUnixNano', 'end_time_unix_nano'), 'endTimeUnixNano');
  if (start === 0n) throw new SpanReject('startTimeUnixNano is required');
  const nowNs = BigInt(Math.floor(limits.nowMs ?? Date.now())) * 1_000_000n;
  if (start < nowNs - BigInt(SPAN_MAX_AGE_MS) * 1_000_000n || start > nowNs + BigInt(SPAN_MAX_FUTURE_MS) * 1_000_000n) {
    throw new SpanReject('startTimeUnixNano is outside the accepted window (now - 7 days .. now + 1 day)');
  }
  const attrs = attributes(span.attributes, limits, 'span');
  const status = obj(span.status) ?? {};
  const row: OtelSpanRow = {
    TenantId: tenantFor(principal, attrs.map, res.map),
    Timestamp: Number(start / 1_000_000_000n),
    TimestampNs: start.toString(),
    TraceId: traceId,
    SpanId: spanId,
    ParentSpanId: parentSpanId,
    TraceState: str(field(span, 'traceState', 'trace_state')),
    SpanName: str(span.name),
    SpanKind: KINDS[enumValue(span.kind, KIND_NAMES, 5)]!,
    ServiceName: serviceName,
    ResourceAttributesKeys: res.keys,
    ResourceAttributesValues: res.values,
    ScopeName: scopeName,
    ScopeVersion: scopeVersion,
    SpanAttributesKeys: attrs.keys,
    SpanAttributesValues: attrs.values,
    Duration: (end > start ? end - start : 0n).toString(),
    StatusCode: STATUS[enumValue(status.code, STATUS_NAMES, 2)]!,
    StatusMessage: str(status.message),
    'Events.Timestamp': undefined,
    'Events.Name': undefined,
    'Events.AttributesKeys': undefined,
    'Events.AttributesValues': undefined,
    'Links.TraceId': undefined,
    'Links.SpanId': undefined,
    'Links.TraceState': undefined,
    'Links.AttributesKeys': undefined,
    'Links.AttributesValues': undefined,
  };
  // Empty Nested columns are left out of the JSON (undefined is not serialized): ClickHouse fills
  // omitted JSONEachRow fields with empty arrays, and most spans have no events or links.
  const events = list(span.events, 'events');
  if (events.length > 0) {
    const ts: string[] = [];
    const names: string[] = [];
    const keys: string[][] = [];
    const values: string[][] = [];
    for (const ev of events) {
      const a = attributes(ev.attributes, limits, 'event');
      ts.push(u64(field(ev, 'timeUnixNano', 'time_unix_nano'), 'event timeUnixNano').toString());
      names.push(str(ev.name));
      keys.push(a.keys);
      values.push(a.values);
    }
    row['Events.Timestamp'] = ts;
    row['Events.Name'] = names;
    row['Events.AttributesKeys'] = keys;
    row['Events.AttributesValues'] = values;
  }
  const links = list(span.links, 'links');
  if (links.length > 0) {
    const traceIds: string[] = [];
    const spanIds: string[] = [];
    const states: string[] = [];
    const keys: string[][] = [];
    const values: string[][] = [];
    for (const link of links) {
      const a = attributes(link.attributes, limits, 'link');
      traceIds.push(id(field(link, 'traceId', 'trace_id'), 16, 'link traceId', false));
      spanIds.push(id(field(link, 'spanId', 'span_id'), 8, 'link spanId', false));
      states.push(str(field(link, 'traceState', 'trace_state')));
      keys.push(a.keys);
      values.push(a.values);
    }
    row['Links.TraceId'] = traceIds;
    row['Links.SpanId'] = spanIds;
    row['Links.TraceState'] = states;
    row['Links.AttributesKeys'] = keys;
    row['Links.AttributesValues'] = values;
  }
  return row;
}
