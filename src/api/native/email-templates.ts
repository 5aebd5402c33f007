import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { SearchPageQuery, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, description: 'id or name' }) });
const fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  subject: Type.Optional(Type.String({ maxLength: 2000 })),
};
const Body = Type.String({ maxLength: 512 * 1024, description: 'HTML with {{placeholders}}' });

export function emailTemplateRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['email-templates'];
    const templates = services.emailTemplates;
    app.get(
      '/email-templates',
      {
        schema: {
          tags,
          querystring: SearchPageQuery,
          response: ok(),
        },
      },
      async (request) => templates.list(principalOf(request), request.query),
    );
    app.post(
      '/email-templates',
      {
        schema: {
          tags,
          body: Type.Object(
            { title: Type.String({ minLength: 1, maxLength: 200 }), body: Body, ...fields },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ template: await templates.create(principalOf(request), request.body) }),
    );
    app.get('/email-templates/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      template: await templates.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/email-templates/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(
            {
              title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              body: Type.Optional(Body),
              ...fields,
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        template: await templates.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete(
      '/email-templates/:id',
      { schema: { tags, params: Ref, response: ok(204) } },
      async (request, reply) => {
        await templates.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
