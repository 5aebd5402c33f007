import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Name = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });

/** Workflow templates: GET /v1/templates, GET /v1/templates/{name}, POST …/{name}/install. */
export function templateRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['templates'];
    app.get('/templates', { schema: { tags, response: ok() } }, async (request) => ({
      templates: await services.templates.list(principalOf(request)),
    }));
    app.get('/templates/:name', { schema: { tags, params: Name, response: ok() } }, async (request) => ({
      template: await services.templates.get(principalOf(request), request.params.name),
    }));
    app.post(
      '/templates/:name/install',
      {
        schema: {
          tags,
          params: Name,
          body: Type.Optional(
            Type.Object(
              {
                parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
                publish: Type.Optional(Type.Boolean({ description: 'publish the workflows (default true)' })),
              },
              { additionalProperties: false },
            ),
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(
            await services.templates.install(principalOf(request), request.params.name, request.body ?? {}),
          ),
    );
  };
}
