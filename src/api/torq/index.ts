import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { torqIntegrationRoutes } from './integrations.js';
import type { Services } from '../../app.js';
import { invalidArgument } from '../../domain/errors.js';
import { roleById, type RoleName } from '../../domain/roles.js';
import type { ApiKeyView } from '../../services/api-keys.js';
import type { UserView } from '../../services/users.js';
import { ok } from '../common-schemas.js';
import { AuditLogQuery } from '../native/audit-logs.js';
import { roleList } from '../native/users.js';
import { CreateWorkspaceBody } from '../native/workspaces.js';
import { principalOf } from '../plugins/auth.js';
import { torqWorkflowRoutes } from './workflows.js';

/** usersv1alphaUser */
function torqUser(u: UserView): Record<string, unknown> {
  return {
    id: u.id,
    email: u.email,
    role_id: u.role_id,
    status: u.status,
    sso_provision: u.sso_provision,
    created_time: u.created_time,
    ...(u.last_login_time ? { last_login_time: u.last_login_time } : {}),
  };
}

/** v1alphaApiKey */
function torqApiKey(k: ApiKeyView): Record<string, unknown> {
  return {
    client_id: k.client_id,
    name: k.name,
    type: k.type === 'service' ? 'API_KEY_TYPE_SERVICE' : 'API_KEY_TYPE_PRIVATE',
    role_id: k.role_id,
    role_name: k.role,
    created_time: k.created_at,
    ...(k.last_authenticated_at ? { last_authenticated_time: k.last_authenticated_at } : {}),
    ...(k.user ? { user: { id: k.user.id, email: k.user.email } } : {}),
  };
}

function roleFromId(roleId: string | undefined): RoleName {
  if (roleId === undefined) return 'viewer';
  const role = roleById(roleId);
  if (!role)
    throw invalidArgument(
      'role_id',
      `role_id ${roleId} is not a known role; see GET /v1alpha/roles`,
      'ROLE_NOT_FOUND',
    );
  return role;
}

/** The Torq-compatible surface (mounted at /v1alpha and /public/v1alpha). */
export function torqRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    await app.register(torqWorkflowRoutes(services));
    await app.register(torqIntegrationRoutes(services));
    const tags = ['torq'];
    app.get(
      '/audit_logs',
      { schema: { tags, summary: 'List audit logs (Torq)', querystring: AuditLogQuery, response: ok() } },
      async (request) => services.audit.list(principalOf(request), request.query),
    );
    app.get(
      '/users',
      {
        schema: {
          tags,
          querystring: Type.Object(
            { sso_provision: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => {
        const users = await services.users.list(principalOf(request));
        const wanted = request.query.sso_provision;
        return {
          users: users.filter((u) => wanted === undefined || u.sso_provision === wanted).map(torqUser),
        };
      },
    );
    app.post(
      '/users/invite',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              email: Type.String({ format: 'email', maxLength: 320 }),
              role_id: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => {
        const invited = await services.users.invite(principalOf(request), {
          email: request.body.email,
          role: roleFromId(request.body.role_id),
        });
        return { ...torqUser(invited.user), invitation_token: invited.invitation_token };
      },
    );
    const rolesQuery = Type.Object(
      {
        page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        page_token: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    );
    const rolesHandler = (): { roles: ReturnType<typeof roleList> } => ({ roles: roleList() });
    app.get('/users/roles', { schema: { tags, querystring: rolesQuery, response: ok() } }, rolesHandler);
    app.get('/roles', { schema: { tags, querystring: rolesQuery, response: ok() } }, rolesHandler);
    app.get('/api-keys', { schema: { tags, response: ok() } }, async (request) => ({
      api_keys: (await services.apiKeys.list(principalOf(request))).map(torqApiKey),
    }));
    app.post(
      '/workspaces',
      { schema: { tags, body: CreateWorkspaceBody, response: ok() } },
      async (request) => services.workspaces.create(principalOf(request), { name: request.body.name.trim() }),
    );
  };
}
