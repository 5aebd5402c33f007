import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { LogStreamInput } from '../../services/log-streams.js';
import { Timestamp, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Ref = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, description: 'id or name' }) });
const Strings = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100 });
const Destination = Type.Object(
  {
    type: Type.String({ description: 'splunk_hec, elasticsearch, syslog, webhook or file' }),
    url: Type.Optional(Type.String({ maxLength: 2000 })),
    index: Type.Optional(Type.String({ maxLength: 200 })),
    sourcetype: Type.Optional(Type.String({ maxLength: 200 })),
    auth: Type.Optional(Type.Union([Type.Literal('api_key'), Type.Literal('bearer'), Type.Literal('basic')])),
    host: Type.Optional(Type.String({ maxLength: 255 })),
    port: Type.Optional(Type.Integer()),
    transport: Type.Optional(Type.String({ maxLength: 10 })),
    facility: Type.Optional(Type.Integer({ minimum: 0, maximum: 23 })),
    path: Type.Optional(Type.String({ maxLength: 200 })),
    max_bytes: Type.Optional(Type.Integer({ minimum: 1024 })),
    keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    verify_tls: Type.Optional(Type.Boolean()),
    allowed_networks: Type.Optional(Type.Array(Type.String({ maxLength: 50 }), { maxItems: 50 })),
  },
  { additionalProperties: false },
);
const fields = {
  logs: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { minItems: 1, maxItems: 2 })),
  filter: Type.Optional(
    Type.Object(
      {
        actions: Type.Optional(Strings),
        workflow_ids: Type.Optional(Strings),
        statuses: Type.Optional(Strings),
      },
      { additionalProperties: false },
    ),
  ),
  destination: Type.Optional(Destination),
  secret_name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()])),
  batch_size: Type.Optional(Type.Integer()),
  enabled: Type.Optional(Type.Boolean()),
};

/** Log streams: /v1/log-streams. */
export function logStreamRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['log-streams'];
    const streams = services.logStreams;
    app.get('/log-streams', { schema: { tags, response: ok() } }, async (request) => ({
      streams: await streams.list(principalOf(request)),
    }));
    app.post(
      '/log-streams',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 100 }),
              ...fields,
              start_time: Type.Optional(Timestamp),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send({ stream: await streams.create(principalOf(request), request.body as LogStreamInput) }),
    );
    app.get('/log-streams/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      stream: await streams.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/log-streams/:id',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Object(
            { name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })), ...fields },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        stream: await streams.update(principalOf(request), request.params.id, request.body as LogStreamInput),
      }),
    );
    app.post(
      '/log-streams/:id/resume',
      {
        schema: {
          tags,
          params: Ref,
          body: Type.Optional(
            Type.Object({ start_time: Type.Optional(Timestamp) }, { additionalProperties: false }),
          ),
          response: ok(),
        },
      },
      async (request) => ({
        stream: await streams.resume(principalOf(request), request.params.id, request.body ?? {}),
      }),
    );
    app.delete(
      '/log-streams/:id',
      { schema: { tags, params: Ref, response: ok(204) } },
      async (request, reply) => {
        await streams.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
