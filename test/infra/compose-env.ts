/** Reading docker-compose.yml the way compose does: `.env` values and `${...}` interpolation. */

/** KEY=value lines of a `.env` file (comments and blank lines skipped). */
export function parseDotEnv(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) values.set(m[1]!, m[2]!.trim());
  }
  return values;
}

/** Interpolates every string of a parsed compose file (compose interpolates values, not comments). */
export function interpolateValues<T>(value: T, env: Map<string, string>): T {
  if (typeof value === 'string') return interpolate(value, env) as T;
  if (Array.isArray(value)) return value.map((v) => interpolateValues(v, env)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateValues(v, env)])) as T;
  return value;
}

/**
 * Compose's interpolation subset the file uses: `$$` is a literal `$`; `${NAME}` and
 * `${NAME:-default}` substitute; `${NAME:?message}` fails when NAME is unset or empty — as
 * `docker compose up` does, with the message.
 */
export function interpolate(text: string, env: Map<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (whole === '$$') return '$';
    const value = env.get(name!) ?? '';
    if (op === ':?' || op === '?') {
      if (value === '' && (op === ':?' || !env.has(name!))) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return value;
    }
    if (op === ':-' || op === '-') return value === '' && (op === ':-' || !env.has(name!)) ? (arg ?? '') : value;
    return value;
  });
}

/** The ClickHouse users file compose mounts into users.d/. */
export function composeUsersXml(compose: { configs?: Record<string, unknown> }): string {
  return String((compose.configs?.['clickhouse-users'] as { content?: string } | undefined)?.content ?? '');
}
