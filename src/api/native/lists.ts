import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { SearchPageQuery, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'id, slug or readable id' }),
});
const ItemParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  key: Type.String({ minLength: 1, maxLength: 1000 }),
});
const Data = Type.Record(Type.String({ minLength: 1, maxLength: 1000 }), Type.Unknown(), {
  description: 'keys and their JSON values',
});

export function listRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['lists'];
    const lists = services.persistentLists;
    app.get(
      '/lists',
      {
        schema: {
          tags,
          querystring: SearchPageQuery,
          response: ok(),
        },
      },
      async (request) => lists.list(principalOf(request), request.query),
    );
    app.post(
      '/lists',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              title: Type.String({ minLength: 1, maxLength: 200 }),
              slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
              description: Type.Optional(Type.String({ maxLength: 2000 })),
              data: Type.Optional(Data),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ list: await lists.create(principalOf(request), request.body) }),
    );
    app.get('/lists/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      list: await lists.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/lists/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(
            {
              title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              description: Type.Optional(Type.String({ maxLength: 2000 })),
              data: Type.Optional(Data),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        list: await lists.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete('/lists/:id', { schema: { tags, params: Ref, response: ok(204) } }, async (request, reply) => {
      await lists.delete(principalOf(request), request.params.id);
      return reply.status(204).send();
    });
    app.get('/lists/:id/workflows', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      workflows: await lists.workflows(principalOf(request), request.params.id),
    }));
    app.get(
      '/lists/:id/items/:key',
      { schema: { tags, params: ItemParams, response: ok() } },
      async (request) => ({
        key: request.params.key,
        value: await lists.getItem(principalOf(request), request.params.id, request.params.key),
      }),
    );
    app.put(
      '/lists/:id/items/:key',
      {
        schema: {
          tags,
          params: ItemParams,
          body: Type.Object({ value: Type.Unknown() }, { additionalProperties: false, required: ['value'] }),
          response: ok(),
        },
      },
      async (request) =>
        lists.writeItem(principalOf(request), request.params.id, request.params.key, {
          operation: 'put',
          value: request.body.value,
        }),
    );
    app.post(
      '/lists/:id/items/:key/append',
      {
        schema: {
          tags,
          params: ItemParams,
          body: Type.Object(
            {
              values: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 10_000 }),
              unique: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) =>
        lists.writeItem(principalOf(request), request.params.id, request.params.key, {
          operation: 'append',
          values: request.body.values,
          unique: request.body.unique ?? false,
        }),
    );
    app.delete(
      '/lists/:id/items/:key',
      { schema: { tags, params: ItemParams, response: ok(204) } },
      async (request, reply) => {
        await lists.writeItem(principalOf(request), request.params.id, request.params.key, {
          operation: 'delete',
        });
        return reply.status(204).send();
      },
    );
  };
}
