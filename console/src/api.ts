/**
 * The console's only way to the server: POST /graphql on the same origin with the credential
 * from sessionStorage as a Bearer token. The credential never goes into a URL, a cookie or
 * localStorage; closing the tab forgets it.
 *
 * GraphQL answers can be partial: a field the principal may not read (money for a member) is
 * null with a FORBIDDEN error for that path only. Pages read `data` and ask `deniedAt(path)`
 * instead of hiding fields by role themselves.
 */
const STORAGE_KEY = 'tollgate.console.credential';

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; requestId?: string };
}

export interface GqlResult<T> {
  data: T | null;
  errors: GqlError[];
  status: number;
}

export function credential(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function signIn(secret: string): void {
  sessionStorage.setItem(STORAGE_KEY, secret.trim());
}

export function signOut(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
  const secret = credential();
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (secret) headers.authorization = `Bearer ${secret}`;
  let res: Response;
  try {
    res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }), credentials: 'omit', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(`the API is unreachable (${(err as Error).message})`, 'NETWORK', 0);
  }
  let body: { data?: T | null; errors?: GqlError[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(`the API answered ${res.status} without JSON`, 'INTERNAL', res.status);
  }
  const errors = body.errors ?? [];
  if (!body.data) {
    const first = errors[0];
    throw new ApiError(first?.message ?? `the API answered ${res.status}`, first?.extensions?.code ?? 'INTERNAL', res.status);
  }
  return { data: body.data, errors, status: res.status };
}

/** True when the field at `path` (or below it) came back denied for this principal. */
export function deniedAt(result: GqlResult<unknown>, ...path: (string | number)[]): boolean {
  return result.errors.some((e) => e.extensions?.code === 'FORBIDDEN' && e.path !== undefined && path.every((p, i) => e.path?.[i] === p));
}

/** Errors that are not a per-field FORBIDDEN (those are expected; the UI shows "not visible"). */
export function unexpectedErrors(result: GqlResult<unknown>): GqlError[] {
  return result.errors.filter((e) => e.extensions?.code !== 'FORBIDDEN');
}
