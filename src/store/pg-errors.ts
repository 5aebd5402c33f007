import { OspreyError, ErrorKind } from '../domain/errors.js';

interface PgErrorLike {
  code?: string;
  constraint?: string;
  message?: string;
}

function isPgError(error: unknown): error is PgErrorLike & Error {
  return error instanceof Error && typeof (error as PgErrorLike).code === 'string';
}

/** A unique constraint was violated; `constraint` names it so services can say which field. */
export class UniqueViolation extends OspreyError {
  readonly constraint: string;
  constructor(constraint: string, cause: unknown) {
    super('CONFLICT', 409, `a resource with the same unique value exists (${constraint})`, { cause });
    this.constraint = constraint;
  }
}

/** Maps a raw pg error to a typed OspreyError; anything else passes through unchanged. */
export function mapPgError(error: unknown): unknown {
  if (error instanceof OspreyError) return error;
  if (isPgError(error)) {
    const code = error.code ?? '';
    if (code === '23505') return new UniqueViolation(error.constraint ?? 'unknown', error);
    if (code === '40001')
      return new OspreyError('SERIALIZATION_FAILURE', 503, 'the transaction conflicted with another; retry', {
        cause: error,
        kind: ErrorKind.transient,
      });
    if (code === '40P01')
      return new OspreyError('DEADLOCK', 503, 'the transaction deadlocked with another; retry', {
        cause: error,
        kind: ErrorKind.transient,
      });
    if (code === '57014')
      return new OspreyError('STATEMENT_TIMEOUT', 503, 'the database statement timed out', {
        cause: error,
        kind: ErrorKind.transient,
      });
    if (code.startsWith('08') || code === '57P01' || code === '57P03')
      return new OspreyError('DATABASE_UNAVAILABLE', 503, 'the database is unavailable', {
        cause: error,
        kind: ErrorKind.transient,
      });
  }
  if (error instanceof Error && /ECONNREFUSED|ECONNRESET|Connection terminated/.test(error.message)) {
    return new OspreyError('DATABASE_UNAVAILABLE', 503, 'the database is unavailable', {
      cause: error,
      kind: ErrorKind.transient,
    });
  }
  return error;
}
