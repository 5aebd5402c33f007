import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { SearchPageQuery, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, description: 'id or title' }) });
const Grants = Type.Object(
  {
    users: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 320 }), { maxItems: 1000 })),
    api_keys: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: 1000 })),
  },
  {
    additionalProperties: false,
    description: 'who may run workflows with this tag though their role cannot edit workflows (replaces)',
  },
);
const fields = {
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  color: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$', description: 'e.g. #1E88E5' })),
  granted_to: Type.Optional(Grants),
};

/** Tags: /v1/tags. Granting a tag lets operators run the workflows carrying it. */
export function tagRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['tags'];
    app.get('/tags', { schema: { tags, querystring: SearchPageQuery, response: ok() } }, async (request) =>
      services.tags.list(principalOf(request), request.query),
    );
    app.post(
      '/tags',
      {
        schema: {
          tags,
          body: Type.Object(
            { title: Type.String({ minLength: 1, maxLength: 64 }), ...fields },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ tag: await services.tags.create(principalOf(request), request.body) }),
    );
    app.get('/tags/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      tag: await services.tags.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/tags/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(
            { title: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), ...fields },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        tag: await services.tags.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete('/tags/:id', { schema: { tags, params: Ref, response: ok(204) } }, async (request, reply) => {
      await services.tags.delete(principalOf(request), request.params.id);
      return reply.status(204).send();
    });
  };
}
