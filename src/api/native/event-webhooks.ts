import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const fields = {
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  enabled: Type.Optional(Type.Boolean()),
};

/** Event webhooks (/v1/event-webhooks): tokens for /soarapi/webhooks_auth/events/. */
export function eventWebhookRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['events'];
    const hooks = services.eventWebhooks;
    app.get('/event-webhooks', { schema: { tags, response: ok() } }, async (request) => ({
      webhooks: await hooks.list(principalOf(request)),
    }));
    app.post(
      '/event-webhooks',
      {
        schema: {
          tags,
          body: Type.Object(
            { title: Type.String({ minLength: 1, maxLength: 200 }), ...fields },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ webhook: await hooks.create(principalOf(request), request.body) }),
    );
    app.get(
      '/event-webhooks/:id',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        webhook: await hooks.get(principalOf(request), request.params.id),
      }),
    );
    app.patch(
      '/event-webhooks/:id',
      {
        schema: {
          tags,
          params: IdParams,
          body: Type.Object(
            { title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), ...fields },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        webhook: await hooks.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.post(
      '/event-webhooks/:id/rotate',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({ webhook: await hooks.rotate(principalOf(request), request.params.id) }),
    );
    app.delete(
      '/event-webhooks/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await hooks.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
