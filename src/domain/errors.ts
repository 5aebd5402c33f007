import type { ErrorCode } from './error-codes.js';

/** The three kinds of failure: they set the HTTP status family and the log level. */
export const ErrorKind = {
  user: 'user',
  transient: 'transient',
  unexpected: 'unexpected',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

/**
 * Every error Osprey raises on purpose. `code` is stable (documented in docs/errors.md),
 * `status` is the HTTP status the API answers with, `details` name the fields at fault.
 */
export class OspreyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly kind: ErrorKind;
  readonly details: ErrorDetail[];
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    status: number,
    message: string,
    options: {
      cause?: unknown;
      details?: ErrorDetail[];
      kind?: ErrorKind;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OspreyError';
    this.code = code;
    this.status = status;
    this.kind = options.kind ?? (status >= 500 ? ErrorKind.unexpected : ErrorKind.user);
    this.details = options.details ?? [];
    this.headers = options.headers ?? {};
  }

  get isRetryable(): boolean {
    return this.kind === ErrorKind.transient;
  }
}

/** 400: the request is malformed; `field` names the parameter at fault. */
export function invalidArgument(
  field: string,
  message: string,
  code: ErrorCode = 'INVALID_ARGUMENT',
): OspreyError {
  return new OspreyError(code, 400, message, { details: [{ field, message }] });
}

/** 404 that never tells whether the resource exists in another workspace. */
export function notFound(code: ErrorCode, resource: string, id: string): OspreyError {
  return new OspreyError(code, 404, `${resource} ${id} was not found`, {
    details: [{ field: 'id', message: `no ${resource} with this id` }],
  });
}

export function conflict(code: ErrorCode, message: string, field?: string): OspreyError {
  return new OspreyError(code, 409, message, { details: field ? [{ field, message }] : [] });
}

export const UNAUTHENTICATED_MESSAGE =
  'Invalid bearer token. If you receive this message more than once try creating a new Client ID/Client Secret or generating a new bearer token.';
export const FORBIDDEN_MESSAGE = "You don't have permission to access this resource.";

export function unauthenticated(message = UNAUTHENTICATED_MESSAGE): OspreyError {
  return new OspreyError('UNAUTHENTICATED', 401, message, {
    headers: { 'www-authenticate': 'Bearer realm="osprey"' },
  });
}

export function forbidden(message = FORBIDDEN_MESSAGE): OspreyError {
  return new OspreyError('PERMISSION_DENIED', 403, message);
}
