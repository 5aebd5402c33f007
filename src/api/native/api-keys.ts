import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { IdParams, RoleName, Timestamp, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

export function apiKeyRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['api-keys'];
    app.get('/api-keys', { schema: { tags, response: ok() } }, async (request) => ({
      api_keys: await services.apiKeys.list(principalOf(request)),
    }));
    app.get('/api-keys/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      api_key: await services.apiKeys.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/api-keys',
      {
        schema: {
          tags,
          summary: 'Create an API key; the client_secret is in this response only',
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 100 }),
              type: Type.Optional(Type.Union([Type.Literal('service'), Type.Literal('private')])),
              role: RoleName,
              expires_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) => {
        const created = await services.apiKeys.create(principalOf(request), {
          name: request.body.name,
          type: request.body.type ?? 'service',
          role: request.body.role,
          expires_at: request.body.expires_at,
        });
        return reply.status(201).send({ api_key: created.key, client_secret: created.client_secret });
      },
    );
    app.patch(
      '/api-keys/:id',
      {
        schema: {
          tags,
          summary: 'Rename, enable or disable a key, or change its expiry',
          params: IdParams,
          body: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
              enabled: Type.Optional(Type.Boolean()),
              expires_at: Type.Optional(Type.Union([Timestamp, Type.Null()])),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        api_key: await services.apiKeys.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete(
      '/api-keys/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await services.apiKeys.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
