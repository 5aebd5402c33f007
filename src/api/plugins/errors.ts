import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OspreyError, type ErrorDetail } from '../../domain/errors.js';
import type { ErrorCode } from '../../domain/error-codes.js';

/** gRPC status codes, for the Torq surface's google.rpc.Status error body. */
const GRPC_CODE: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  405: 12,
  409: 6,
  413: 3,
  415: 3,
  429: 8,
  500: 13,
  503: 14,
};

export function isTorqSurface(url: string): boolean {
  return url.startsWith('/v1alpha/') || url.startsWith('/public/v1alpha/');
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function fieldOf(error: AjvError, context: string | undefined): string {
  const path = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (error.keyword === 'required')
    return [path, String(error.params.missingProperty)].filter(Boolean).join('.');
  if (error.keyword === 'additionalProperties') {
    return [path, String(error.params.additionalProperty)].filter(Boolean).join('.');
  }
  return path || context || 'body';
}

/** Fastify's own errors (validation, body parsing, size) become OspreyErrors that name the field. */
function fromFastify(error: FastifyError): OspreyError | undefined {
  if (error.validation) {
    const errors = error.validation as AjvError[];
    const details: ErrorDetail[] = errors.map((e) => {
      const field = fieldOf(e, error.validationContext);
      const message =
        e.keyword === 'additionalProperties'
          ? `unknown field "${field}"`
          : e.keyword === 'required'
            ? `${field} is required`
            : `${field} ${e.message ?? 'is invalid'}`;
      return { field, message };
    });
    const unknown = errors.every((e) => e.keyword === 'additionalProperties');
    const code: ErrorCode = unknown ? 'UNKNOWN_FIELD' : 'INVALID_ARGUMENT';
    return new OspreyError(code, 400, details.map((d) => d.message).join('; '), { details });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new OspreyError('MALFORMED_BODY', 400, `the request body is not valid JSON: ${error.message}`, {
        details: [{ field: 'body', message: 'malformed JSON' }],
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OspreyError(
        'PAYLOAD_TOO_LARGE',
        413,
        'the request body is larger than this server accepts',
        {
          details: [{ field: 'body', message: 'too large' }],
        },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OspreyError(
        'UNSUPPORTED_MEDIA_TYPE',
        415,
        `unsupported Content-Type; send application/json`,
        {
          details: [{ field: 'content-type', message: 'unsupported' }],
        },
      );
    default:
      break;
  }
  if (error.statusCode === 400 && error instanceof SyntaxError) {
    return new OspreyError('MALFORMED_BODY', 400, 'the request body is not valid JSON', {
      details: [{ field: 'body', message: 'malformed JSON' }],
    });
  }
  return undefined;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: OspreyError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
  const body = isTorqSurface(request.url)
    ? {
        code: GRPC_CODE[error.status] ?? 2,
        message: error.message,
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: error.code,
            metadata: Object.fromEntries(
              error.details.filter((d) => d.field).map((d): [string, string] => [d.field ?? '', d.message]),
            ),
          },
        ],
      }
    : { code: error.code, message: error.message, details: error.details };
  return reply.status(error.status).send(body);
}

/** The one place errors become HTTP responses. Stack traces never reach a client. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mapped = error instanceof OspreyError ? error : fromFastify(error);
    if (mapped) {
      if (mapped.status >= 500) request.log.error({ err: error }, mapped.message);
      else if (mapped.kind === 'transient') request.log.warn({ code: mapped.code }, mapped.message);
      return sendError(request, reply, mapped);
    }
    if (error.statusCode === 429) {
      return sendError(
        request,
        reply,
        new OspreyError('RATE_LIMITED', 429, 'too many requests; retry after the time in Retry-After'),
      );
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(request, reply, new OspreyError('INVALID_ARGUMENT', error.statusCode, error.message));
    }
    request.log.error({ err: error }, 'unexpected error');
    return sendError(
      request,
      reply,
      new OspreyError('INTERNAL', 500, 'an unexpected error occurred; the server log has the details'),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new OspreyError('ROUTE_NOT_FOUND', 404, `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}
