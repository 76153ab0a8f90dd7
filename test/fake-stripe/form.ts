/**
 * Stripe's request encoding: `application/x-www-form-urlencoded` bodies (POST) and query strings
 * (GET) with bracket nesting, as the SDK's `qs`-style encoder writes them:
 *   metadata[tollgate_invoice_id]=…   lines[0][amount]=…   expand[0]=lines   expand[]=lines
 * Parsed into nested objects; objects whose keys are all array indices become arrays.
 */
export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

export class FormError extends Error {}

export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  if (!text) return root;
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const path = splitKey(rawKey);
    assign(root, path, value);
  }
  return arrayify(root) as FormObject;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new FormError(`malformed encoding: ${s.slice(0, 40)}`);
  }
}

function splitKey(key: string): string[] {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!m) throw new FormError(`malformed parameter name: ${key}`);
  const parts = [m[1]!];
  for (const seg of m[2]!.matchAll(/\[([^[\]]*)\]/g)) parts.push(seg[1]!);
  return parts;
}

function assign(obj: FormObject, path: string[], value: string): void {
  let cur: FormObject = obj;
  for (let i = 0; i < path.length; i++) {
    let key = path[i]!;
    const last = i === path.length - 1;
    if (key === '') key = String(Object.keys(cur).length); // `a[]=x` appends
    if (last) {
      if (typeof cur[key] === 'object') throw new FormError(`parameter ${path.join('.')} given both as a value and as an object`);
      cur[key] = value;
    } else {
      const next = cur[key];
      if (next === undefined) cur[key] = {};
      else if (typeof next === 'string') throw new FormError(`parameter ${path.slice(0, i + 1).join('.')} given both as a value and as an object`);
      cur = cur[key] as FormObject;
    }
  }
}

function arrayify(v: FormValue): FormValue {
  if (typeof v === 'string' || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  for (const k of keys) v[k] = arrayify(v[k]!);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.map(Number).sort((a, b) => a - b).map((k) => v[String(k)]!);
  }
  return v;
}
