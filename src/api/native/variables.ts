import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { invalidArgument } from '../../domain/errors.js';
import { IdParams, PageQuery, ResourceName, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const MAX_VALUE_BYTES = 262_144;

function checkSize(value: unknown): void {
  if (value !== undefined && Buffer.byteLength(JSON.stringify(value)) > MAX_VALUE_BYTES) {
    throw invalidArgument('value', `value must be at most ${MAX_VALUE_BYTES} bytes of JSON`);
  }
}

export function variableRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['variables'];
    app.get('/variables', { schema: { tags, querystring: PageQuery, response: ok() } }, async (request) =>
      services.variables.list(principalOf(request), request.query),
    );
    app.get('/variables/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      variable: await services.variables.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/variables',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              name: ResourceName,
              value: Type.Unknown({ description: 'any JSON value' }),
              description: Type.Optional(Type.String({ maxLength: 1000 })),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) => {
        checkSize(request.body.value);
        return reply
          .status(201)
          .send({ variable: await services.variables.create(principalOf(request), request.body) });
      },
    );
    app.patch(
      '/variables/:id',
      {
        schema: {
          tags,
          params: IdParams,
          body: Type.Object(
            {
              name: Type.Optional(ResourceName),
              value: Type.Optional(Type.Unknown()),
              description: Type.Optional(Type.String({ maxLength: 1000 })),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => {
        checkSize(request.body.value);
        return {
          variable: await services.variables.update(principalOf(request), request.params.id, request.body),
        };
      },
    );
    app.delete(
      '/variables/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await services.variables.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
