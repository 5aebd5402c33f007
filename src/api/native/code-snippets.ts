import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { SNIPPET_LANGUAGES } from '../../services/code-snippets.js';
import { SearchPageQuery, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, description: 'id or name' }) });
const fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  language: Type.Optional(
    Type.Union(
      SNIPPET_LANGUAGES.map((l) => Type.Literal(l)),
      { description: 'javascript (runs in code steps) or python (stored, to be ported)' },
    ),
  ),
};
const Code = Type.String({ minLength: 1, maxLength: 100000 });

/** Code snippets: /v1/code-snippets. */
export function codeSnippetRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['code-snippets'];
    const snippets = services.codeSnippets;
    app.get(
      '/code-snippets',
      { schema: { tags, querystring: SearchPageQuery, response: ok() } },
      async (request) => snippets.list(principalOf(request), request.query),
    );
    app.post(
      '/code-snippets',
      {
        schema: {
          tags,
          body: Type.Object(
            { title: Type.String({ minLength: 1, maxLength: 200 }), code: Code, ...fields },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ snippet: await snippets.create(principalOf(request), request.body) }),
    );
    app.get('/code-snippets/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      snippet: await snippets.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/code-snippets/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(
            {
              title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              code: Type.Optional(Code),
              ...fields,
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        snippet: await snippets.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete(
      '/code-snippets/:id',
      { schema: { tags, params: Ref, response: ok(204) } },
      async (request, reply) => {
        await snippets.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
