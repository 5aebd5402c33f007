import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { authorize } from '../../domain/authorize.js';
import { ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

/** The seed's query parameters for the audit log, shared by the native and Torq routes. */
export const AuditLogQuery = Type.Object(
  {
    start_time: Type.Optional(Type.String({ description: 'RFC 3339; entries created after it' })),
    end_time: Type.Optional(Type.String({ description: 'RFC 3339; entries created before it' })),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    page_token: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    // No schema default: with a page_token, a missing order means "the token's order".
    order: Type.Optional(
      Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'asc or desc (default desc)' }),
    ),
  },
  { additionalProperties: false },
);

export function auditLogRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['audit-logs'];
    app.get(
      '/audit-logs',
      {
        schema: {
          tags,
          summary: 'List audit log entries (owner role)',
          querystring: AuditLogQuery,
          response: ok(),
        },
      },
      async (request) => services.audit.list(principalOf(request), request.query),
    );
    app.get(
      '/audit-logs/verify',
      { schema: { tags, summary: "Verify the workspace's audit hash chain (owner role)", response: ok() } },
      async (request) => {
        const principal = principalOf(request);
        authorize(principal, 'audit_logs.read');
        return services.audit.verify(principal.workspaceId);
      },
    );
  };
}
