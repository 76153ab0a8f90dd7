/**
 * Error shaping at the GraphQL edge. Every error leaves with `extensions.code` in
 * {UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, RATE_LIMITED, INTERNAL} and the
 * request id. AppErrors keep their message; anything unexpected is masked ("internal error")
 * and logged with the request id. Never a stack trace.
 */
import type { GraphQLError as GraphQLErrorType, GraphQLFormattedError } from 'graphql';
import { GraphQLError } from '../graphql-runtime.js';
import { ArgumentValidationError, AuthenticationError, AuthorizationError } from 'type-graphql';
import { isAppError, type ErrorCode } from '../../../src/shared/index.js';

export const apiErrorCodes = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'RATE_LIMITED', 'INTERNAL'] as const;
export type ApiErrorCode = (typeof apiErrorCodes)[number];

// Apollo's own codes for requests rejected before execution.
const apolloInputCodes = new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE', 'BAD_REQUEST']);

function fromAppCode(code: ErrorCode): ApiErrorCode {
  switch (code) {
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
    case 'NOT_FOUND':
    case 'BAD_USER_INPUT':
    case 'RATE_LIMITED':
      return code;
    case 'CONFLICT':
    case 'PAYLOAD_TOO_LARGE':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'QUOTA_EXHAUSTED':
      return 'BAD_USER_INPUT';
    default:
      return 'INTERNAL';
  }
}

export interface Classified {
  code: ApiErrorCode;
  message: string;
  /** true when the original error was unexpected (to be logged, message masked). */
  unexpected: boolean;
  details?: Record<string, unknown>;
}

/** Maps any error reaching the edge to a public code and message. */
export function classify(formatted: GraphQLFormattedError, error: unknown): Classified {
  const original = error instanceof GraphQLError ? (error.originalError ?? null) : error;
  // Parse, validation and variable-coercion failures: the client's mistake; graphql-js's message only echoes the document.
  const ext = formatted.extensions?.code;
  if (typeof ext === 'string' && apolloInputCodes.has(ext) && !isAppError(original)) return { code: 'BAD_USER_INPUT', message: formatted.message, unexpected: false };
  if (isAppError(original)) {
    const code = fromAppCode(original.code);
    if (code === 'INTERNAL') return { code, message: 'internal error', unexpected: true };
    return { code, message: original.message, unexpected: false, details: pickDetails(original.details) };
  }
  if (original instanceof AuthenticationError) return { code: 'UNAUTHENTICATED', message: 'authentication required', unexpected: false };
  if (original instanceof AuthorizationError) return { code: 'FORBIDDEN', message: 'forbidden', unexpected: false };
  if (original instanceof ArgumentValidationError) return { code: 'BAD_USER_INPUT', message: original.message, unexpected: false };
  if (original instanceof GraphQLError) return classify(formatted, original);
  if (typeof ext === 'string' && (apiErrorCodes as readonly string[]).includes(ext) && ext !== 'INTERNAL' && !original) {
    return { code: ext as ApiErrorCode, message: formatted.message, unexpected: false };
  }
  // A GraphQLError without an original error comes from parsing, validation or variable coercion:
  // the client's mistake, and its message is safe (it only echoes the document).
  if (!original && (typeof ext !== 'string' || apolloInputCodes.has(ext))) return { code: 'BAD_USER_INPUT', message: formatted.message, unexpected: false };
  return { code: 'INTERNAL', message: 'internal error', unexpected: true };
}

function pickDetails(details: Record<string, unknown>): Record<string, unknown> | undefined {
  const keys = Object.keys(details);
  if (keys.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = details[k];
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
  }
  return out;
}

/** A GraphQLError carrying one of our codes (and an HTTP status for errors raised before execution). */
export function apiError(code: ApiErrorCode, message: string, opts: { status?: number; headers?: Record<string, string> } = {}): GraphQLErrorType {
  const http = opts.status ? { status: opts.status, headers: new Map(Object.entries(opts.headers ?? {})) } : undefined;
  return new GraphQLError(message, { extensions: { code, ...(http ? { http } : {}) } });
}
