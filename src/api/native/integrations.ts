import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { PageQuery, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'the integration id or name' }),
});

const Cidr = Type.String({ maxLength: 50, description: 'an IP address or CIDR range, e.g. 10.20.0.0/16' });

function fields(required: boolean) {
  const opt = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Optional(t);
  return {
    name: required
      ? Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'unique in the workspace' }))
      : opt(Type.String({ minLength: 1, maxLength: 63 })),
    display_name: opt(Type.String({ minLength: 1, maxLength: 200 })),
    description: opt(Type.String({ maxLength: 2000 })),
    app_version: opt(
      Type.Union([Type.String({ maxLength: 50 }), Type.Null()], {
        description: 'pin an app version; null follows the newest installed',
      }),
    ),
    configuration: opt(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "the app's configuration fields; secret ones are write-only",
      }),
    ),
    is_default: opt(Type.Boolean({ description: "used by the app's steps that name no integration" })),
    expires_at: opt(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
    allowed_networks: opt(Type.Array(Cidr, { maxItems: 100 })),
    verify_tls: opt(Type.Boolean()),
    timeout_seconds: opt(Type.Integer({ minimum: 1, maximum: 600 })),
    retries: opt(Type.Integer({ minimum: 0, maximum: 5 })),
    rate_limit: opt(
      Type.Union([
        Type.Object(
          {
            requests: Type.Integer({ minimum: 1, maximum: 100_000 }),
            per_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  };
}

export function integrationRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['integrations'];
    app.get(
      '/integrations',
      {
        schema: {
          tags,
          querystring: Type.Object(
            { ...PageQuery.properties, app: Type.Optional(Type.String({ maxLength: 40 })) },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => services.integrations.list(principalOf(request), request.query),
    );
    app.get('/integrations/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      integration: await services.integrations.get(principalOf(request), request.params.id),
    }));
    app.post(
      '/integrations',
      {
        schema: {
          tags,
          body: Type.Object(
            { app: Type.String({ minLength: 1, maxLength: 40 }), ...fields(true) },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send({ integration: await services.integrations.create(principalOf(request), request.body) }),
    );
    app.patch(
      '/integrations/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(fields(false), { additionalProperties: false, minProperties: 1 }),
          response: ok(),
        },
      },
      async (request) => ({
        integration: await services.integrations.update(
          principalOf(request),
          request.params.id,
          request.body,
        ),
      }),
    );
    app.delete(
      '/integrations/:id',
      { schema: { tags, params: Ref, response: ok(204) } },
      async (request, reply) => {
        await services.integrations.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
    app.post(
      '/integrations/:id/test',
      { schema: { tags, summary: 'Test connectivity', params: Ref, response: ok() } },
      async (request) => ({
        connectivity: await services.integrations.test(principalOf(request), request.params.id),
      }),
    );
    app.post(
      '/integrations/:id/execute',
      {
        schema: {
          tags,
          summary: 'Run one action synchronously',
          params: Ref,
          body: Type.Object(
            {
              action: Type.String({
                minLength: 1,
                maxLength: 200,
                description: 'the action name, or app.action',
              }),
              params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => services.integrations.execute(principalOf(request), request.params.id, request.body),
    );
  };
}
