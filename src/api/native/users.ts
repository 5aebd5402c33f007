import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { ROLE_DESCRIPTIONS, ROLE_IDS, ROLE_NAMES, ROLE_PERMISSIONS } from '../../domain/roles.js';
import { IdParams, RoleName, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

export function roleList(): {
  id: string;
  name: string;
  description: string;
  scope_names: string[];
  is_custom: boolean;
}[] {
  return ROLE_NAMES.map((name) => ({
    id: ROLE_IDS[name],
    name,
    description: ROLE_DESCRIPTIONS[name],
    scope_names: [...ROLE_PERMISSIONS[name]],
    is_custom: false,
  }));
}

export function userRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['users'];
    app.get('/users', { schema: { tags, response: ok() } }, async (request) => ({
      users: await services.users.list(principalOf(request)),
    }));
    app.get('/users/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      user: await services.users.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/users',
      {
        schema: {
          tags,
          summary: 'Invite a user; answers with a single-use invitation token',
          body: Type.Object(
            {
              email: Type.String({ format: 'email', maxLength: 320 }),
              role: Type.Optional(RoleName),
              name: Type.Optional(Type.String({ maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send(
          await services.users.invite(principalOf(request), {
            email: request.body.email,
            role: request.body.role ?? 'viewer',
            name: request.body.name,
          }),
        ),
    );
    app.patch(
      '/users/:id',
      {
        schema: {
          tags,
          summary: "Change a user's role",
          params: IdParams,
          body: Type.Object({ role: RoleName }, { additionalProperties: false }),
          response: ok(),
        },
      },
      async (request) => ({
        user: await services.users.updateRole(principalOf(request), request.params.id, request.body.role),
      }),
    );
    app.delete(
      '/users/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await services.users.remove(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
    app.get('/roles', { schema: { tags, summary: 'The preset roles and their permissions' } }, () => ({
      roles: roleList(),
    }));
  };
}
