/**
 * Parameter validation the way Stripe answers it: an unknown parameter is 400
 * `parameter_unknown`, a missing one `parameter_missing`, a bad integer
 * `parameter_invalid_integer`, a bad enum value `parameter_invalid_string`/`invalid_request_error`.
 * Each endpoint declares its parameters; `expand` is accepted everywhere.
 */
import { invalid } from './errors.js';
import type { FormObject, FormValue } from './form.js';

export type ParamSpec =
  | 'string'
  | 'int'
  | 'bool'
  | 'timestamp'
  | 'metadata'
  | { enum: readonly string[] }
  | { object: Record<string, ParamSpec>; required?: readonly string[] }
  | { array: ParamSpec; max?: number };

export interface EndpointSpec {
  params: Record<string, ParamSpec>;
  required?: readonly string[];
}

export type Parsed = Record<string, unknown>;

export function validate(spec: EndpointSpec, form: FormObject): Parsed {
  const out: Parsed = {};
  for (const [k, v] of Object.entries(form)) {
    if (k === 'expand') {
      out.expand = Array.isArray(v) ? v : [v];
      continue;
    }
    const s = spec.params[k];
    if (!s) throw invalid(`Received unknown parameter: ${k}`, 'parameter_unknown', k);
    out[k] = check(s, v, k);
  }
  for (const r of spec.required ?? []) {
    if (out[r] === undefined) throw invalid(`Missing required param: ${r}.`, 'parameter_missing', r);
  }
  return out;
}

function check(spec: ParamSpec, v: FormValue, name: string): unknown {
  if (spec === 'string') return str(v, name);
  if (spec === 'int' || spec === 'timestamp') {
    const s = str(v, name);
    if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw invalid(`Invalid integer: ${s}`, 'parameter_invalid_integer', name);
    return Number(s);
  }
  if (spec === 'bool') {
    const s = str(v, name);
    if (s !== 'true' && s !== 'false') throw invalid(`Invalid boolean: ${s}`, 'parameter_invalid_boolean', name);
    return s === 'true';
  }
  if (spec === 'metadata') {
    if (v === '') return {}; // `metadata=` unsets all keys
    if (typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid hash', 'parameter_invalid_hash' as string, name);
    const entries = Object.entries(v);
    if (entries.length > 50) throw invalid('Metadata can have at most 50 keys.', 'parameter_invalid_hash', name);
    const md: Record<string, string> = {};
    for (const [k, val] of entries) {
      if (k.length > 40) throw invalid(`Metadata keys can have a maximum length of 40 characters (${k}).`, undefined, `${name}[${k}]`);
      const sv = str(val, `${name}[${k}]`);
      if (sv.length > 500) throw invalid(`Metadata values can have a maximum length of 500 characters (${k}).`, undefined, `${name}[${k}]`);
      md[k] = sv;
    }
    return md;
  }
  if ('enum' in spec) {
    const s = str(v, name);
    if (!spec.enum.includes(s)) throw invalid(`Invalid ${name}: must be one of ${spec.enum.join(', ')}`, undefined, name);
    return s;
  }
  if ('object' in spec) {
    if (typeof v !== 'object' || Array.isArray(v)) throw invalid('Invalid hash', undefined, name);
    const o: Parsed = {};
    for (const [k, val] of Object.entries(v)) {
      const s = spec.object[k];
      if (!s) throw invalid(`Received unknown parameter: ${name}[${k}]`, 'parameter_unknown', `${name}[${k}]`);
      o[k] = check(s, val, `${name}[${k}]`);
    }
    for (const r of spec.required ?? []) if (o[r] === undefined) throw invalid(`Missing required param: ${name}[${r}].`, 'parameter_missing', `${name}[${r}]`);
    return o;
  }
  if (!Array.isArray(v)) throw invalid('Invalid array', undefined, name);
  if (spec.max !== undefined && v.length > spec.max) throw invalid(`${name} may have at most ${spec.max} entries`, undefined, name);
  return v.map((item, i) => check(spec.array, item, `${name}[${i}]`));
}

function str(v: FormValue, name: string): string {
  if (typeof v !== 'string') throw invalid(`Invalid string: ${name} must be a string`, 'parameter_invalid_string' as string, name);
  return v;
}
