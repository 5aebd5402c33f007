import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { IdParams, PageQuery, ResourceName, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const SecretValue = Type.String({ maxLength: 65_536, description: 'write-only; never returned' });

export function secretRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['secrets'];
    app.get('/secrets', { schema: { tags, querystring: PageQuery, response: ok() } }, async (request) =>
      services.secrets.list(principalOf(request), request.query),
    );
    app.get('/secrets/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      secret: await services.secrets.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/secrets',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              name: ResourceName,
              value: SecretValue,
              description: Type.Optional(Type.String({ maxLength: 1000 })),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ secret: await services.secrets.create(principalOf(request), request.body) }),
    );
    app.patch(
      '/secrets/:id',
      {
        schema: {
          tags,
          params: IdParams,
          body: Type.Object(
            {
              name: Type.Optional(ResourceName),
              value: Type.Optional(SecretValue),
              description: Type.Optional(Type.String({ maxLength: 1000 })),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        secret: await services.secrets.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete(
      '/secrets/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await services.secrets.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
