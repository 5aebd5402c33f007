import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

export const CreateWorkspaceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
    copy_sso_config: Type.Optional(
      Type.Boolean({ description: 'accepted for Torq compatibility; Osprey has no SSO yet' }),
    ),
  },
  { additionalProperties: false },
);

export function workspaceRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['workspaces'];
    app.get(
      '/workspaces',
      { schema: { tags, summary: 'List the workspaces the caller can see', response: ok() } },
      async (request) => ({
        workspaces: await services.workspaces.list(principalOf(request)),
      }),
    );
    app.get('/workspaces/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      workspace: await services.workspaces.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/workspaces',
      {
        schema: {
          tags,
          summary: 'Create a workspace; answers with an owner API key for it (shown once)',
          body: CreateWorkspaceBody,
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(await services.workspaces.create(principalOf(request), { name: request.body.name.trim() })),
    );
    app.get(
      '/workspaces/:id/network-policy',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        network_policy: await services.workspaces.networkPolicy(principalOf(request), request.params.id),
      }),
    );
    app.put(
      '/workspaces/:id/network-policy',
      {
        schema: {
          tags,
          summary: "Networks the workspace's steps may reach despite the SSRF rules",
          params: IdParams,
          body: Type.Object(
            {
              allowed_networks: Type.Array(Type.String({ maxLength: 50 }), {
                maxItems: 100,
                description: 'IP addresses or CIDR ranges, e.g. 10.20.0.0/16',
              }),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        network_policy: await services.workspaces.setNetworkPolicy(
          principalOf(request),
          request.params.id,
          request.body.allowed_networks,
        ),
      }),
    );
  };
}
