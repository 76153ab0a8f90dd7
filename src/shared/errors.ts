/**
 * One error hierarchy for every edge. Each error carries a machine-readable code that maps
 * to an HTTP status (REST roles) and to GraphQL `extensions.code`. Expected errors are
 * `AppError`s and are not logged as exceptions; anything else is masked at the edge.
 */
export const errorCodes = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  QUOTA_EXHAUSTED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AppError extends Error {
  override readonly name: string = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = errorCodes[code];
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) => new AppError('BAD_USER_INPUT', message, details);
export const notFound = (message = 'not found') => new AppError('NOT_FOUND', message);
export const unauthenticated = (message = 'authentication required') => new AppError('UNAUTHENTICATED', message);
export const forbidden = (message = 'forbidden') => new AppError('FORBIDDEN', message);
export const unavailable = (message: string, details?: Record<string, unknown>) => new AppError('UNAVAILABLE', message, details);

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
